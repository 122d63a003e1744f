#!/usr/bin/env bash
# Make `snakemake --profile abci` (and `--profile slurm`) work as typed.
#
# Snakemake looks a profile name up in the working directory and in ~/.config/snakemake/
# (appdirs' user config dir; $XDG_CONFIG_HOME/snakemake when that is set), never in profiles/.
# This links this repository's profiles there. `--profile profiles/abci` works without the link.
#
#   bash tools/install_profiles.sh            # abci and slurm
#   bash tools/install_profiles.sh abci       # just one
#
# An existing link is replaced; an existing directory or file of the same name is left alone
# (with a message), so a site profile you wrote yourself is never overwritten.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${XDG_CONFIG_HOME:-$HOME/.config}/snakemake"
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(abci slurm)

mkdir -p "$dest"
status=0
for name in "${names[@]}"; do
    src="$repo/profiles/$name"
    if [ ! -f "$src/config.yaml" ]; then
        echo "install_profiles: no profile $src/config.yaml" >&2
        status=1
        continue
    fi
    if [ -e "$dest/$name" ] && [ ! -L "$dest/$name" ]; then
        echo "install_profiles: $dest/$name exists and is not a link; left as it is" >&2
        status=1
        continue
    fi
    ln -sfn "$src" "$dest/$name"
    echo "$dest/$name -> $src"
done
exit $status
