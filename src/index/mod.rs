//! Search algorithms. They see chunks of vectors and a scorer, never SQLite.

pub mod buf;
pub mod flat;
pub mod sq8;
