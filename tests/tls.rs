//! TLS to the database (`database.use_tls`), against private MariaDB instances the tests start
//! themselves: one that accepts TLS connections only (`require_secure_transport`), with a CA and
//! server certificate made here with `openssl`, and one without TLS. A schema written over TLS by
//! the real client (datajoint 0.14.10) is mounted and compared with what the client fetches.

mod common;

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_ok, Mount};

const USER: &str = "djfs_tls";
const PASSWORD: &str = "djfs_tls_pw";
const SCHEMA: &str = "djfs_it_tls";

/// A private MariaDB (own datadir, socket and port; `--no-defaults`), shut down on drop, also
/// when a test fails. It dies with the test's thread too (PDEATHSIG), should the test be killed.
struct PrivateMariaDb {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

/// The certificates of a test CA: `ca.pem` signed `server.pem` (for the names in `san`, e.g.
/// `IP:127.0.0.1,DNS:localhost`); `other-ca.pem` is a CA that signed nothing here.
struct Certs {
    ca: PathBuf,
    other_ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    run_ok(Command::new("openssl").current_dir(dir).args(args));
}

fn make_certs(dir: &Path, san: &str) -> Certs {
    let ca_ext = [
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ];
    for name in ["ca", "other-ca"] {
        let (key, pem, subj) = (
            format!("{name}.key"),
            format!("{name}.pem"),
            format!("/CN=djfs test {name}"),
        );
        let mut args = vec![
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", &key, "-out",
            &pem, "-subj", &subj,
        ];
        args.extend_from_slice(&ca_ext);
        openssl(dir, &args);
    }
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        format!(
            "subjectAltName={san}\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        ),
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "server.ext",
        ],
    );
    Certs {
        ca: dir.join("ca.pem"),
        other_ca: dir.join("other-ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateMariaDb {
    /// Starts a server; with `certs`, one that accepts TLS connections only. Makes the user
    /// USER (password PASSWORD, any host) with every privilege.
    fn start(certs: Option<&Certs>) -> PrivateMariaDb {
        // In /tmp: the socket path must stay short.
        let dir = tempfile::Builder::new()
            .prefix("djfs-tls-")
            .tempdir_in("/tmp")
            .unwrap();
        let data = dir.path().join("data");
        {
            // One bootstrap at a time: one of three run at once failed during a full test run
            // (its log went with its temporary folder); serialized, with a small buffer pool.
            static BOOTSTRAP: std::sync::Mutex<()> = std::sync::Mutex::new(());
            let _one = BOOTSTRAP.lock().unwrap_or_else(|e| e.into_inner());
            run_ok(
                Command::new("mariadb-install-db")
                    .arg("--no-defaults")
                    .arg(format!("--datadir={}", data.display()))
                    .arg("--user=root")
                    .arg("--auth-root-authentication-method=socket")
                    .arg("--skip-test-db")
                    .arg("--innodb-buffer-pool-size=32M"),
            );
        }
        let port = free_port();
        let mut cmd = Command::new("/usr/sbin/mariadbd");
        cmd.arg("--no-defaults")
            .arg("--user=root")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", dir.path().join("s").display()))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--pid-file={}", dir.path().join("pid").display()))
            .arg(format!(
                "--log-error={}",
                dir.path().join("error.log").display()
            ))
            .arg("--innodb-buffer-pool-size=32M")
            .arg("--character-set-server=utf8mb4")
            .arg("--max-allowed-packet=256M");
        if let Some(c) = certs {
            cmd.arg(format!("--ssl-ca={}", c.ca.display()))
                .arg(format!("--ssl-cert={}", c.server_cert.display()))
                .arg(format!("--ssl-key={}", c.server_key.display()))
                .arg("--require-secure-transport=ON");
        }
        // Its messages go to error.log; what it prints before that (startup warnings) here.
        cmd.stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start mariadbd");
        let server = PrivateMariaDb { dir, child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while server.sql("SELECT 1").is_err() {
            assert!(
                Instant::now() < deadline,
                "the private MariaDB did not come up:\n{}",
                std::fs::read_to_string(server.dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        server
            .sql(&format!(
                "CREATE USER '{USER}'@'%' IDENTIFIED BY '{PASSWORD}'; \
                 GRANT ALL PRIVILEGES ON *.* TO '{USER}'@'%'; FLUSH PRIVILEGES;"
            ))
            .unwrap();
        server
    }

    /// Runs SQL as root over this server's own socket (a socket counts as secure transport).
    fn sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.path().join("s").display()))
            .args(["-u", "root", "-N", "-B", "-e", sql])
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A DataJoint config file for this server with `use_tls` (None: the key is absent).
    fn config(&self, dir: &Path, name: &str, use_tls: Option<serde_json::Value>) -> PathBuf {
        let mut conf = serde_json::json!({
            "database.host": "127.0.0.1",
            "database.port": self.port,
            "database.user": USER,
            "database.password": PASSWORD,
        });
        if let Some(v) = use_tls {
            conf["database.use_tls"] = v;
        }
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&conf).unwrap()).unwrap();
        path
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `djfs mount` that must fail: returns its stderr, which must be exactly one line.
fn refused(config: &Path, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = common::djfs()
        .envs(env.iter().copied())
        .arg("mount")
        .arg("--config")
        .arg(config)
        .arg("--log-file")
        .arg(dir.path().join("djfs.log"))
        .arg(&mnt)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{config:?} should be refused");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    stderr
}

#[test]
fn tls_only_server_is_mounted_with_use_tls_and_refused_in_plaintext() {
    let e = common::env();
    let work = tempfile::tempdir().unwrap();
    let certs = make_certs(work.path(), "IP:127.0.0.1,DNS:localhost");
    let server = PrivateMariaDb::start(Some(&certs));
    assert!(
        server
            .sql("SELECT @@require_secure_transport")
            .unwrap()
            .trim()
            == "1"
    );

    // The reference schema, written by the real client over TLS, verifying the server with the CA.
    run_ok(
        Command::new(&e.python)
            .arg(e.repo.join("tests/python/make_reference.py"))
            .arg(SCHEMA)
            .env("DJ_HOST", format!("127.0.0.1:{}", server.port))
            .env("DJ_USER", USER)
            .env("DJ_PASS", PASSWORD)
            .env("DJFS_TLS_CA", &certs.ca),
    );

    // use_tls with the CA: mounted, and every file equals what the client fetches (over TLS).
    let with_ca = server.config(
        work.path(),
        "ca.json",
        Some(serde_json::json!({"ca": certs.ca})),
    );
    {
        let mount = Mount::new(&with_ca, Some(SCHEMA), &[]);
        let (ok, output) = common::python_status(
            "check_mount.py",
            &[
                mount.path.to_str().unwrap(),
                SCHEMA,
                "--config",
                with_ca.to_str().unwrap(),
            ],
        );
        assert!(
            ok && output.contains(" 0 failed"),
            "check_mount over TLS found differences:\n{output}\ndjfs log:\n{}",
            mount.log_text()
        );
        let passed: usize = output
            .lines()
            .rev()
            .find_map(|l| l.strip_suffix(" passed, 0 failed"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(passed > 100, "too few checks ran:\n{output}");
    }

    // `true` (TLS required, nothing to verify against) and absent (TLS preferred): mounted.
    for (name, use_tls) in [
        ("true.json", Some(serde_json::json!(true))),
        ("absent.json", None),
        ("null.json", Some(serde_json::Value::Null)),
    ] {
        let config = server.config(work.path(), name, use_tls);
        let mount = Mount::new(&config, None, &[]);
        let tables = std::fs::read_dir(mount.path.join(SCHEMA))
            .unwrap_or_else(|err| panic!("{name}: {err}\n{}", mount.log_text()))
            .count();
        assert!(tables > 3, "{name}: {tables} tables");
    }

    // `false`, and DJ_USE_TLS=false over a config asking for TLS: one line naming TLS.
    let plaintext = server.config(work.path(), "false.json", Some(serde_json::json!(false)));
    let msg = refused(&plaintext, &[]);
    assert!(
        msg.starts_with(&format!(
            "djfs: cannot connect to the database at 127.0.0.1:{}",
            server.port
        )) && msg.contains("the server requires TLS (database.use_tls is false)"),
        "{msg}"
    );
    let msg = refused(&with_ca, &[("DJ_USE_TLS", "false")]);
    assert!(
        msg.contains("the server requires TLS (DJ_USE_TLS is false)"),
        "{msg}"
    );

    // A CA that did not sign the server's certificate: refused, naming the verification.
    let wrong_ca = server.config(
        work.path(),
        "other-ca.json",
        Some(serde_json::json!({"ca": certs.other_ca})),
    );
    let msg = refused(&wrong_ca, &[]);
    assert!(
        msg.contains("TLS: the server's certificate does not verify against the CA")
            && msg.contains("other-ca.pem"),
        "{msg}"
    );
    // A CA file that is not there.
    let missing = server.config(
        work.path(),
        "missing-ca.json",
        Some(serde_json::json!({"ca": work.path().join("nope.pem")})),
    );
    let msg = refused(&missing, &[]);
    assert!(msg.contains("cannot read database.use_tls ca"), "{msg}");
}

#[test]
fn server_without_tls_is_used_in_plaintext_only_when_tls_is_not_required() {
    let work = tempfile::tempdir().unwrap();
    let certs = make_certs(work.path(), "IP:127.0.0.1,DNS:localhost");
    let server = PrivateMariaDb::start(None);
    server.sql(&format!("CREATE DATABASE {SCHEMA}")).unwrap();

    // Absent (TLS preferred): plaintext, since the server offers no TLS.
    let absent = server.config(work.path(), "absent.json", None);
    let mount = Mount::new(&absent, None, &[]);
    assert!(mount.path.join(SCHEMA).is_dir(), "{}", mount.log_text());
    drop(mount);

    // TLS required (true, a CA, or DJ_USE_TLS=true): one line saying the server offers none.
    let required = server.config(work.path(), "true.json", Some(serde_json::json!(true)));
    let msg = refused(&required, &[]);
    assert!(
        msg.contains("the server offers no TLS (database.use_tls asks for TLS)"),
        "{msg}"
    );
    let with_ca = server.config(
        work.path(),
        "ca.json",
        Some(serde_json::json!({"ca": certs.ca})),
    );
    let msg = refused(&with_ca, &[]);
    assert!(msg.contains("the server offers no TLS"), "{msg}");
    let msg = refused(&absent, &[("DJ_USE_TLS", "true")]);
    assert!(
        msg.contains("the server offers no TLS (DJ_USE_TLS asks for TLS)"),
        "{msg}"
    );
}

#[test]
fn the_certificate_must_name_the_host_unless_check_hostname_is_false() {
    let work = tempfile::tempdir().unwrap();
    let certs = make_certs(work.path(), "DNS:db.example.org");
    let server = PrivateMariaDb::start(Some(&certs));
    server.sql(&format!("CREATE DATABASE {SCHEMA}")).unwrap();

    // Signed by the CA, but for another name than 127.0.0.1: refused, naming the check.
    let strict = server.config(
        work.path(),
        "strict.json",
        Some(serde_json::json!({"ca": certs.ca})),
    );
    let msg = refused(&strict, &[]);
    assert!(
        msg.contains("TLS: the server's certificate is not valid for 127.0.0.1")
            && msg.contains("check_hostname"),
        "{msg}"
    );
    // check_hostname false (as PyMySQL reads it): the chain is still verified, the name not.
    let lenient = server.config(
        work.path(),
        "lenient.json",
        Some(serde_json::json!({"ca": certs.ca, "check_hostname": false})),
    );
    let mount = Mount::new(&lenient, None, &[]);
    assert!(mount.path.join(SCHEMA).is_dir(), "{}", mount.log_text());
    drop(mount);
    let wrong_ca = server.config(
        work.path(),
        "lenient-other-ca.json",
        Some(serde_json::json!({"ca": certs.other_ca, "check_hostname": false})),
    );
    let msg = refused(&wrong_ca, &[]);
    assert!(msg.contains("does not verify against the CA"), "{msg}");
}
