#!/usr/bin/env python3
"""Checks a JSON document from reco against its schema in this directory.

Usage: validate.py SCHEMA [FILE]   (FILE, or standard input)

The schemas refer to common.schema.json#/$defs/...; those references are
inlined here, so the check needs nothing but the jsonschema module of any
4.x version (Debian's python3-jsonschema). Besides the schema it checks
docs/json.md's rule for numbers: every real has at most 6 significant
digits, and a predicted rating at most 4 decimals.

Exit status: 0 valid, 1 invalid (the reasons on standard error), 77 when
the jsonschema module is missing (the test is then skipped)."""
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError:
    print("validate.py: the Python module jsonschema is missing", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_DIGITS = 6
RATING_KEYS = ("predicted_rating", "prediction")
MAX_RATING_DECIMALS = 4


def load(name):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        return json.load(f)


def inline(node, doc_name, docs):
    """node with every $ref replaced by what it points to."""
    if isinstance(node, list):
        return [inline(x, doc_name, docs) for x in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, pointer = node["$ref"].partition("#")
        target = target or doc_name
        if target not in docs:
            docs[target] = load(target)
        value = docs[target]
        for part in filter(None, pointer.split("/")):
            value = value[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        resolved = inline(value, target, docs)
        if rest:
            return {"allOf": [resolved, inline(rest, doc_name, docs)]}
        return resolved
    return {k: inline(v, doc_name, docs) for k, v in node.items() if k != "$defs"}


def digits_problems(text):
    """Reals with more digits than docs/json.md allows, as messages."""
    problems = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, path + [k])
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, path + [str(i)])
        elif isinstance(node, RealText):
            mantissa = re.split("[eE]", node)[0].lstrip("-")
            significant = mantissa.replace(".", "").lstrip("0")
            if len(significant) > MAX_DIGITS:
                problems.append("%s: %s has more than %d significant digits"
                                % ("/".join(path), node, MAX_DIGITS))
            if path and path[-1] in RATING_KEYS:
                value = float(node)
                if round(value, MAX_RATING_DECIMALS) != value:
                    problems.append("%s: %s has more than %d decimals"
                                    % ("/".join(path), node, MAX_RATING_DECIMALS))

    walk(json.loads(text, parse_float=RealText), [])
    return problems


class RealText(str):
    """A real as it was written."""


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    schema_name = os.path.basename(sys.argv[1])
    schema = inline(load(schema_name), schema_name, {})
    if len(sys.argv) == 3:
        with open(sys.argv[2], encoding="utf-8") as f:
            text = f.read()
    else:
        text = sys.stdin.read()
    try:
        doc = json.loads(text)
    except ValueError as e:
        print("not JSON: %s" % e, file=sys.stderr)
        return 1
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print("%s: %s" % ("/".join(str(p) for p in e.path) or "(top)", e.message),
              file=sys.stderr)
    problems = digits_problems(text)
    for p in problems:
        print(p, file=sys.stderr)
    return 1 if errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
