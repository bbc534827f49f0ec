//! `lsmedic-stress`: the randomized crash-and-corruption stress test (`make stress`). The
//! logic lives in [`lsmedic_bench::stress`]; this is its command line.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    lsmedic_bench::stress::main(lsmedic_bench::stress::Cli::parse())
}
