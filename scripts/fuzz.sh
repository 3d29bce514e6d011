#!/usr/bin/env bash
# Fuzz iommuvm's input parsers with libFuzzer (clang, ASan, UBSan): the spec loader with matrix
# expansion and planning, every load generator's parser, the kernel-log evidence and audit
# readers, and the GRUB editor (tests/fuzz/). Builds into build-fuzz/.
#   scripts/fuzz.sh [SECONDS]        each target for SECONDS (default 60) from its corpus
#   scripts/fuzz.sh --corpus-only    each target over its corpus once, no fuzzing
# A crashing, leaking or slow input is written to build-fuzz/findings/<target>/ and the script
# exits 1; copy it into tests/fuzz/corpus/<target>/ once it is fixed, as a regression case
# (the corpus also runs in the ordinary test suite: ctest -R FuzzCorpus).
# New inputs libFuzzer finds stay in build-fuzz/corpus/ (the checked-in corpus is not touched).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60 corpus_only=0
case "${1:-}" in
  --corpus-only) corpus_only=1 ;;
  '') ;;
  *) seconds=$1 ;;
esac
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is needed (apt-get install clang)" >&2; exit 3; }
cmake -S . -B build-fuzz -G Ninja -DIOMMUVM_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
if ! log=$(cmake --build build-fuzz 2>&1); then
  printf '%s\n' "$log" | grep -E 'error|Error|FAILED' | head -40 >&2
  echo "fuzz.sh: the fuzz build failed" >&2
  exit 3
fi
status=0
for t in spec parsers evidence grub; do
  work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  mkdir -p "$work" "$findings"
  # -rss_limit_mb and -timeout: an input that needs more than 3 GB or 10 s is a finding too.
  args=(-rss_limit_mb=3072 -timeout=10 -max_len=262144 -artifact_prefix="$findings/" -print_final_stats=1)
  if [ "$corpus_only" = 1 ]; then
    cmd=(build-fuzz/tests/fuzz/fuzz_$t "${args[@]}" -runs=0 "tests/fuzz/corpus/$t")
  else
    cmd=(build-fuzz/tests/fuzz/fuzz_$t "${args[@]}" -max_total_time="$seconds" "$work" "tests/fuzz/corpus/$t")
  fi
  if "${cmd[@]}" > "build-fuzz/$t.log" 2>&1; then
    echo "fuzz.sh: $t: $(grep -E '^stat::number_of_executed_units' "build-fuzz/$t.log" | awk '{print $2}') inputs, no finding"
  else
    status=1
    echo "fuzz.sh: $t: FINDING (build-fuzz/$t.log, inputs in $findings/):" >&2
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "build-fuzz/$t.log" | head -15 >&2
  fi
done
exit $status
