//! `probe shm-create KEY`: make a System V shared memory segment, to show
//! which IPC namespace sees it (busybox has no `ipcmk`).

use std::process::ExitCode;

pub fn create(args: &[String]) -> ExitCode {
    let [key] = args else {
        eprintln!("probe shm-create: usage: probe shm-create KEY (e.g. 0x57570001)");
        return ExitCode::from(2);
    };
    let Ok(key) = u32::from_str_radix(key.trim_start_matches("0x"), 16) else {
        eprintln!("probe shm-create: KEY must be hexadecimal, got {key:?}");
        return ExitCode::from(2);
    };
    // SAFETY: shmget only reads its integer arguments.
    let id = unsafe { libc::shmget(key as libc::key_t, 4096, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        eprintln!(
            "probe shm-create: shmget: {}",
            std::io::Error::last_os_error()
        );
        return ExitCode::from(1);
    }
    println!("shm id {id} key 0x{key:08x}");
    ExitCode::SUCCESS
}
