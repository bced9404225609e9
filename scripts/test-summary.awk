# Sums the test logs of scripts/test.sh into its closing line. Reads the
# Rust log (cargo's build output, then cargo-nextest's summary), then the
# pytest log; the stage exit statuses come in as variables (cargo, maturin,
# pytest), and which stages ran as rust and python (1 or 0). Anything that
# makes a stage fail is counted as a failure even when no test says
# "failed": a compile error, a pytest run with no summary, no passing test,
# or collection errors, and a failed build of the Python package. Each such
# failure is named on its own line.
function count(line, words,    i, n, parts) {
    n = split(line, parts, /[ ,]+/)
    for (i = 1; i < n; i++) {
        if (parts[i] !~ /^[0-9]+$/) continue
        if (parts[i + 1] ~ "^(" words ")") return parts[i] + 0
    }
    return 0
}
function note(why) { notes = notes "failure: " why "\n"; extra++ }
function tell(why) { notes = notes "failure: " why "\n" }

{ file = FILENAME == ARGV[1] ? 1 : 2 }

file == 1 && /^ *Summary \[/ {
    nextest = 1
    passed += count($0, "passed"); skipped += count($0, "skipped")
    n = count($0, "failed") + count($0, "timed")
    failed += n; cargo_failed += n
}
file == 1 && /^error: could not compile/ { note($0) }

file == 2 && /^(=+ )?([0-9]+ [a-z]+,? )+in [0-9.]+s/ {
    summary = 1
    py_passed = count($0, "passed"); py_failed = count($0, "failed")
    py_errors = count($0, "error"); py_skipped = count($0, "skipped")
    passed += py_passed; failed += py_failed + py_errors; skipped += py_skipped
}
file == 2 && /^(=+ )?no tests ran in / { summary = 1 }

END {
    if (python && maturin != 0) {
        note("maturin develop failed (exit " maturin "): the Python tests did not run")
    } else if (python) {
        if (!summary) note("pytest printed no summary (exit " pytest ")")
        else if (py_passed + py_failed + py_errors == 0) note("no Python test ran to a result")
        else if (pytest != 0 && py_failed + py_errors == 0) note("pytest exited " pytest " with no failed test")
        if (py_errors > 0) tell(py_errors " pytest error(s), counted as failed: collection, import or fixture")
    }
    if (rust && !nextest) note("cargo nextest printed no summary")
    if (cargo != 0 && cargo_failed + extra == 0) note("the Rust tests exited " cargo " with no failed test")
    printf "%s", notes
    printf "summary: %d passed, %d failed, %d skipped\n", passed, failed + extra, skipped
    exit (failed + extra > 0)
}
