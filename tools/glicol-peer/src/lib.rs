//! See benches/glicol.rs (`cargo bench -p glicol-peer`).
