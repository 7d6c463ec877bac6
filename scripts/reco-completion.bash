# bash completion for reco (installed as
# share/bash-completion/completions/reco). The command names and each
# command's long options come from reco itself (`reco --complete-options
# [CMD]`, printed from the option tables), so they never go stale; files
# are completed for operands and for options that take a value.
_reco()
{
    local cur words cword
    _get_comp_words_by_ref -n = cur words cword 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }
    local reco=${words[0]}
    if [[ $cword -eq 1 ]]; then
        local cmds
        cmds=$("$reco" --complete-options 2>/dev/null | cut -f1)
        mapfile -t COMPREPLY < <(compgen -W "$cmds --help --version" -- "$cur")
        return
    fi
    local cmd=${words[1]}
    if [[ $cmd == log && $cword -eq 2 && $cur != -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "init info compact" -- "$cur")
        return
    fi
    if [[ $cur == --*=* ]]; then
        # A value: a file name is the likeliest.
        local value=${cur#*=}
        mapfile -t COMPREPLY < <(compgen -f -- "$value")
        return
    fi
    if [[ $cur == -* ]]; then
        local opts
        opts=$("$reco" --complete-options "$cmd" 2>/dev/null)
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        # An option taking a value ends in '=': no space after it.
        [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi
    mapfile -t COMPREPLY < <(compgen -f -- "$cur")
}
complete -F _reco reco
