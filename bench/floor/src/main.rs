//! `reactor-floor [--bind ADDR:PORT]`: the ceiling server for `bench/run` (see the library
//! docs). Prints the bound address, then serves until killed.
use std::net::TcpListener;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut bind = String::from("127.0.0.1:18095");
    let mut args = lexopt::Parser::from_env();
    loop {
        match args.next() {
            Ok(None) => break,
            Ok(Some(lexopt::Arg::Long("bind"))) => match args.value().map(|v| v.into_string()) {
                Ok(Ok(v)) => bind = v,
                _ => return fail("--bind needs ADDR:PORT"),
            },
            Ok(Some(arg)) => return fail(&format!("unexpected argument {:?}", arg.unexpected())),
            Err(e) => return fail(&e.to_string()),
        }
    }
    let listener = match TcpListener::bind(&bind) {
        Ok(l) => l,
        Err(e) => return fail(&format!("cannot bind {bind}: {e}")),
    };
    if let Ok(addr) = listener.local_addr() {
        println!("reactor-floor listening on {addr}");
    }
    match reactor_floor::serve(listener) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("reactor-floor: {e}");
            ExitCode::FAILURE
        }
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("reactor-floor: {msg}");
    ExitCode::from(2)
}
