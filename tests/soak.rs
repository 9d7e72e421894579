//! Concurrency soak (issue 11): writers on two mounts and the real client writing at the same
//! time, readers on the writers' mount. Afterwards: no reference without its object, no lost last
//! write, `.unused` equal to the unreferenced tracking rows, and no reader ever saw a torn `.npy`.
//!
//! Bounded: `DJFS_SOAK_SECONDS` (default 45) of writing; `scripts/soak` runs it longer.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{client, Mount};

/// A `.npy` of `n` int64 values, all equal to `v` (so a torn read shows as mixed values).
fn npy_filled(v: i64, n: usize) -> Vec<u8> {
    let mut header = format!("{{'descr': '<i8', 'fortran_order': False, 'shape': ({n},), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for _ in 0..n {
        out.extend(v.to_le_bytes());
    }
    out
}

/// Parses a `.npy` written by djfs (any int64 layout): its values, or why it is torn.
fn npy_values(bytes: &[u8]) -> Result<Vec<i64>, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("no npy magic ({} bytes)", bytes.len()));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).map_err(|e| e.to_string())?;
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape")?;
    let n: usize = shape
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().unwrap())
        .product();
    let data = &bytes[start + hlen..];
    if data.len() != n * 8 {
        return Err(format!("{} data bytes for {n} values", data.len()));
    }
    Ok(data
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect())
}

fn write_file(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(data)?;
    use std::os::fd::IntoRawFd;
    if unsafe { libc::close(f.into_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// One write of a writer's round.
type WriteOp = Box<dyn Fn() -> std::io::Result<()>>;

/// What one writer stored last, per (row, attribute).
type LastWrites = Arc<Mutex<BTreeMap<(u32, String), String>>>;

fn writer(
    row_folder: impl Fn(u32) -> PathBuf + Send + 'static,
    rows: Vec<u32>,
    tag: &'static str,
    stop: Arc<AtomicBool>,
    last: LastWrites,
    failures: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            for &row in &rows {
                n += 1;
                let folder = row_folder(row);
                let step = n as i64;
                // A scalar, an external blob and an attachment, each a value tagged by step.
                let notes = format!("{tag}-{step}");
                let ops: [(&str, WriteOp); 3] = [
                    ("notes", {
                        let p = folder.join("notes");
                        let v = format!("{notes}\n");
                        Box::new(move || write_file(&p, v.as_bytes()))
                    }),
                    ("arr", {
                        let p = folder.join("arr.npy");
                        Box::new(move || {
                            write_file(&p, &npy_filled(step, 2000 + (step as usize % 7) * 300))
                        })
                    }),
                    ("pic", {
                        let dir = folder.join("pic");
                        let body = format!("{tag} picture {step}\n");
                        let name = format!("{tag}-{step}.txt");
                        Box::new(move || write_file(&dir.join(&name), body.as_bytes()))
                    }),
                ];
                for (attr, op) in ops.iter() {
                    match op() {
                        Ok(()) => {
                            let value = match *attr {
                                "notes" => notes.clone(),
                                "arr" => step.to_string(),
                                _ => format!("{tag}-{step}.txt"),
                            };
                            last.lock().unwrap().insert((row, attr.to_string()), value);
                        }
                        Err(e) => failures
                            .lock()
                            .unwrap()
                            .push(format!("{tag} row {row} {attr} step {step}: {e}")),
                    }
                }
            }
        }
        n
    })
}

#[test]
fn writers_on_two_mounts_and_the_client_keep_every_invariant() {
    let seconds: u64 = std::env::var("DJFS_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(45);
    let schema = "djfs_soak";
    let (_dir, config) = common::schema_with_stores("make_regressions.py", schema, false);
    let a = Mount::new(&config, Some(schema), &[]);
    let b = Mount::new(&config, Some(schema), &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let (last_a, last_b): (LastWrites, LastWrites) = (Arc::default(), Arc::default());

    let a_path = a.path.clone();
    let wa = writer(
        move |r| a_path.join(format!("Doc/doc_id={r}")),
        vec![3, 4, 5],
        "a",
        stop.clone(),
        last_a.clone(),
        failures.clone(),
    );
    let b_path = b.path.clone();
    let wb = writer(
        move |r| b_path.join(format!("Doc/doc_id={r}")),
        vec![6, 7, 8],
        "b",
        stop.clone(),
        last_b.clone(),
        failures.clone(),
    );

    // Readers on the writers' own mount: every .npy read must be whole and of one value.
    let reads = Arc::new(AtomicUsize::new(0));
    let torn: Arc<Mutex<Vec<String>>> = Arc::default();
    let readers: Vec<_> = (0..3)
        .map(|i| {
            let path = a.path.join(format!("Doc/doc_id={}/arr.npy", 3 + i));
            let (stop, reads, torn) = (stop.clone(), reads.clone(), torn.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut bytes = Vec::new();
                    let got =
                        std::fs::File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes));
                    match got {
                        Ok(_) => match npy_values(&bytes) {
                            Ok(v) if v.windows(2).all(|w| w[0] == w[1]) => {
                                reads.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => torn
                                .lock()
                                .unwrap()
                                .push(format!("{}: mixed values", path.display())),
                            Err(e) => torn
                                .lock()
                                .unwrap()
                                .push(format!("{}: {e}", path.display())),
                        },
                        // Between an rm and a write the file may be absent; nothing else.
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                        Err(e) => torn
                            .lock()
                            .unwrap()
                            .push(format!("{}: {e}", path.display())),
                    }
                }
            })
        })
        .collect();

    // The real client updates other rows and the same rows' notes meanwhile.
    let e = common::env();
    let client_writer = Command::new(&e.python)
        .arg("-c")
        .arg(format!(
            "import datajoint as dj, time\n\
             dj.config.load({cfg:?})\n\
             vm = dj.VirtualModule('soak', {schema:?})\n\
             end = time.time() + {seconds}\n\
             n = 0\n\
             while time.time() < end:\n\
             \x20   n += 1\n\
             \x20   for r in (9, 10):\n\
             \x20       vm.Doc.update1(dict(doc_id=r, notes=f'client-{{n}}'))\n\
             print(n)\n",
            cfg = config.display().to_string(),
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let (na, nb) = (wa.join().unwrap(), wb.join().unwrap());
    for r in readers {
        r.join().unwrap();
    }
    let out = client_writer.wait_with_output().unwrap();
    assert!(out.status.success(), "client writer: {out:?}");
    let client_n: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    eprintln!(
        "soak: {:?}, mount a {na} row writes, mount b {nb}, client {client_n} rounds, {} whole .npy reads",
        started.elapsed(),
        reads.load(Ordering::Relaxed)
    );
    assert!(na > 3 && nb > 3 && client_n > 1, "too little work done");
    assert!(
        reads.load(Ordering::Relaxed) > 10,
        "readers read too little"
    );

    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "writes failed: {failures:#?}");
    let torn = torn.lock().unwrap().clone();
    assert!(torn.is_empty(), "torn reads: {torn:#?}");

    // No lost last write: each writer's last stored values are what the client fetches.
    for last in [&last_a, &last_b] {
        for ((row, attr), value) in last.lock().unwrap().iter() {
            let key = format!(r#"{{"doc_id": {row}}}"#);
            match attr.as_str() {
                "notes" => {
                    let r = client(&config, schema, &["row", "Doc", &key]);
                    assert_eq!(r["values"]["notes"], *value, "row {row}");
                }
                "pic" => {
                    let r = client(&config, schema, &["row", "Doc", &key]);
                    assert_eq!(r["values"]["pic"]["attach"]["name"], *value, "row {row}");
                }
                _ => {
                    let dir = tempfile::tempdir().unwrap();
                    let f = dir.path().join("a.npy");
                    client(
                        &config,
                        schema,
                        &["fetch-npy", "Doc", &key, "arr", f.to_str().unwrap()],
                    );
                    let values = npy_values(&std::fs::read(&f).unwrap()).unwrap();
                    let want: i64 = value.parse().unwrap();
                    assert!(values.iter().all(|&v| v == want), "row {row} arr");
                }
            }
        }
    }
    let r = client(&config, schema, &["row", "Doc", r#"{"doc_id": 9}"#]);
    assert_eq!(r["values"]["notes"], format!("client-{client_n}"));

    // No reference without its object; `.unused` is exactly the unreferenced tracking rows.
    for store in ["local", "shared"] {
        let tracked = client(&config, schema, &["tracked", store]);
        for o in tracked["objects"].as_array().unwrap() {
            assert_eq!(o["exists_in_store"], true, "{store}: {o}");
        }
        let unused = client(&config, schema, &["unused", store]);
        let mut expected: Vec<String> = unused["not_exists"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect();
        expected.sort();
        let fresh = Mount::new(&config, Some(schema), &[]);
        let mut shown: Vec<String> =
            std::fs::read_dir(fresh.path.join(format!(".external/{store}/.unused")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy()[..32].to_string())
                .collect();
        shown.sort();
        assert_eq!(
            shown, expected,
            "{store}: .unused against the unreferenced tracking rows"
        );
    }
}
