#!/usr/bin/env bash
# Mutation testing of runner's core, store, execution and in-run packages, run by hand
# (never in CI): mutmut 3, configured in pyproject.toml ([tool.mutmut]).
#
#   pip install -e ".[test,mutation]"
#   bash tests/benchmarks/mutation.sh [core|store|execution|inrun|all]   (default: all)
#
# mutmut copies the source into mutants/ and keeps its results there, so a second run
# only retests what changed. It prints mutmut's progress, then one JSON line per
# package: {"package", "killed", "survived", "no_tests", "timeout", ...}. Then:
#   mutmut results              the survivors (and mutants no test reaches)
#   mutmut show NAME            one mutant's diff
#   mutmut browse               all of them, interactively
# A survivor is either worth a test or has its reason in tests/benchmarks/MUTANTS.md.
# Slow on 2 cores: run one package at a time. MUTMUT_CHILDREN sets the workers (2).
set -euo pipefail
cd "$(dirname "$0")/../.."

packages=(core store execution inrun)
case "${1:-all}" in
  all) selected=("${packages[@]}");;
  core|store|execution|inrun) selected=("$1");;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2;;
esac
command -v mutmut >/dev/null || { echo "mutmut is not installed: pip install -e '.[mutation]'" >&2; exit 2; }

# mutmut puts its mutated copy first on sys.path; a PYTHONPATH naming the real source
# would let the tests import that instead and kill nothing.
unset PYTHONPATH
if [ "${1:-all}" = all ]; then
  mutmut run --max-children "${MUTMUT_CHILDREN:-2}"
else
  mutmut run --max-children "${MUTMUT_CHILDREN:-2}" "runner.$1.*"
fi
mutmut results --all true | python3 -c '
import collections, json, sys
wanted = sys.argv[1:]
counts = collections.defaultdict(collections.Counter)
for line in sys.stdin:
    name, _, status = line.strip().rpartition(": ")
    parts = name.split(".")
    if len(parts) > 2 and parts[0] == "runner" and parts[1] in wanted:
        counts[parts[1]][status.replace(" ", "_")] += 1
for package in wanted:
    print(json.dumps({"package": package, **dict(sorted(counts[package].items()))}))
' "${selected[@]}"
