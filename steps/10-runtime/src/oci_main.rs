//! `10-runtime-oci`: step 10's runtime as engines call runc (podman through
//! conmon, containerd through its shim). The concepts are in the library:
//! `steps/10-runtime/src/oci/`.

fn main() -> std::process::ExitCode {
    step10_runtime::oci::main()
}
