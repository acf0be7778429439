# A Rust app on the newest rusqlite links vindex and runs a KNN query (tests/rust-app-current,
# its own lockfile). One extra build of rusqlite's bundled SQLite, in target/rust-app-current.
.PHONY: test-rust-compat
test-rust-compat:
	$(CARGO) run --quiet --locked --manifest-path tests/rust-app-current/Cargo.toml --target-dir target/rust-app-current
TEST_EXTRA += test-rust-compat
