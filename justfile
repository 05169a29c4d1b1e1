# berth tasks. `just` lists them.

# List the tasks.
help:
    @just --list

# Run berth with a private Postgres under ./.berth.
dev:
    cargo run --release -- dev

# The whole test suite (starts its own Postgres).
test:
    cargo test

# Format check, clippy and docs, as CI runs them.
lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

# Remove the dev data folder (the private Postgres included).
db-reset:
    rm -rf .berth

# Benchmarks (see docs/benchmarks.md): the berth-bench crate in bench/, e.g. `just bench --scenario latency`.
bench *ARGS:
    cargo run --release -p berth-bench -- {{ARGS}}

# What CI runs, on this checkout.
ci:
    bash .ci/run
