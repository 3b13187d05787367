# bash completion for timeoutsock (libtimeoutsock)
_timeoutsock() {
    local cur prev i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    # After COMMAND (the first operand, or what follows --): complete it as a command line.
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            --) _command_offset $((i + 1)); return ;;
            -t|--timeout|--connect|--read|--write|--accept|--exclude|--only|--pid) ((i++)) ;;
            -*) ;;
            *) _command_offset "$i"; return ;;
        esac
    done
    case $prev in
        --pid) COMPREPLY=($(compgen -W "$(ps -eo pid= 2>/dev/null)" -- "$cur")); return ;;
        -t|--timeout|--connect|--read|--write|--accept|--exclude|--only) return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-t --timeout= --connect= --read= --write= --accept=
            --exclude= --only= --log --force --preload-only --pid= --check --env --help
            --version --' -- "$cur"))
        [[ ${COMPREPLY[0]-} == *= ]] && compopt -o nospace
    else
        COMPREPLY=($(compgen -c -- "$cur"))
    fi
}
complete -F _timeoutsock timeoutsock
