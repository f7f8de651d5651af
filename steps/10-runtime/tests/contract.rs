//! What every step promises, kept by step 10 (which records each run, and
//! removes the record of a `--rm` one): exit codes, errors, stdin,
//! signals, escapes, and a run killed at every event leaving nothing.

mod common;

use common::BIN;

workshop_tests::step_contract_tests!(BIN);
workshop_tests::step_bad_input_tests!(BIN, [LIMITS, VOLUMES, NETWORK, SUBCOMMANDS, SECURITY]);
workshop_tests::step_escape_tests!(BIN, cgroups, mounts);
workshop_tests::step_fault_tests!(BIN, runtime: ["--network", "none"]);
