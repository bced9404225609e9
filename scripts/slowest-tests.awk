# Prints "SECONDS BINARY TEST" for each test case of a JUnit report (the one
# cargo-nextest writes, .config/nextest.toml), for scripts/test.sh to sort.
/<testcase / {
    name = $0; sub(/.* name="/, "", name); sub(/".*/, "", name)
    class = $0; sub(/.* classname="/, "", class); sub(/".*/, "", class)
    time = $0; sub(/.* time="/, "", time); sub(/".*/, "", time)
    printf "%8.1f s  %s %s\n", time, class, name
}
