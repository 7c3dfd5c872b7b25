//! reactor: a single-threaded mio reactor serving HTTP/1.1 through pluggable handlers.
pub mod date;
