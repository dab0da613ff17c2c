#!/usr/bin/env bash
# Builds davaudit (release) for the bench scripts and prints the binary's path.
#
#   DAVAUDIT_BIN=path   use that binary, build nothing
#   DAVAUDIT_REF=rev    build that commit from `git archive` in bench/target/src-<commit>
#                       (its own target dir, kept between runs): a clean measurement of a
#                       commit while others edit the working tree
#   (neither)           `cargo build --release` at the repository root: the working tree
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
if [[ -n ${DAVAUDIT_BIN:-} ]]; then
    [[ -x $DAVAUDIT_BIN ]] || { echo "DAVAUDIT_BIN=$DAVAUDIT_BIN is not executable" >&2; exit 1; }
    echo "$DAVAUDIT_BIN"
elif [[ -n ${DAVAUDIT_REF:-} ]]; then
    commit=$(git -C "$root" rev-parse --short "$DAVAUDIT_REF^{commit}")
    src="$here/target/src-$commit"
    if [[ ! -f $src/Cargo.toml ]]; then
        mkdir -p "$src"
        git -C "$root" archive "$commit" | tar -x -C "$src"
    fi
    (cd "$src" && CARGO_TARGET_DIR="$here/target/davaudit" cargo build --release --quiet --locked >&2)
    echo "$here/target/davaudit/release/davaudit"
else
    (cd "$root" && cargo build --release --quiet >&2)
    echo "$root/target/release/davaudit"
fi
