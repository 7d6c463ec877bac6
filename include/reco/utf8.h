/* reco: UTF-8 validation, for IDs that arrive over HTTP and messages that
 * go back as JSON. */
#ifndef RECO_UTF8_H
#define RECO_UTF8_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Offset of the first byte of s[0..len) that breaks UTF-8 (overlong forms,
 * surrogates and values past U+10FFFF count as broken), or len if all of
 * it is valid. */
size_t reco_utf8_invalid_at(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
