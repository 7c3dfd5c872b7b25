//! SMTP client: state machine, MIME builder, TLS.
