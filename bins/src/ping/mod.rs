//! UDP ping client and echo server.
