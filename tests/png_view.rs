//! The `.png` views of image arrays through real mounts of schemas written by the real client:
//! the seed's demo (its `Slide` pictures) plus a table of arrays that are images and arrays that
//! are not (tests/python/check_png.py), checked pixel by pixel with Pillow, opened with
//! ImageMagick's `identify`, and decoded here with the `png` crate against the `.npy` beside it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{eventually, python, python_status, Mount};

/// Runs `check_png.py verify`; returns the number of PNG views it checked.
fn verify(config: &Path, mount: &Mount, schema: &str) -> usize {
    let (ok, output) = python_status(
        "check_png.py",
        &[
            "verify",
            config.to_str().unwrap(),
            mount.path.to_str().unwrap(),
            schema,
        ],
    );
    assert!(
        ok && output.contains(" 0 failed"),
        "check_png found differences:\n{output}\ndjfs log:\n{}",
        mount.log_text()
    );
    let last = output.lines().last().unwrap_or_default();
    let pngs: usize = last
        .strip_suffix(" png")
        .and_then(|l| l.rsplit(", ").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no summary line:\n{output}"));
    let passed: usize = last
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 8 * pngs, "too few checks ran:\n{output}");
    pngs
}

/// The seed's demo schema plus the `Picture` table of check_png.py.
fn demo_with_pictures(schema: &str) -> (tempfile::TempDir, PathBuf) {
    let (dir, config) = common::schema_with_stores("make_demo.py", schema, false);
    python("check_png.py", &["make", config.to_str().unwrap(), schema]);
    (dir, config)
}

fn names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A `.npy` file's shape and data (the header djfs writes: `fortran_order: True`).
fn npy(bytes: &[u8]) -> (Vec<usize>, &[u8]) {
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let hlen = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + hlen]).unwrap();
    assert!(header.contains("'fortran_order': True"), "{header}");
    let shape = header.split("'shape': (").nth(1).unwrap();
    let shape: Vec<usize> = shape[..shape.find(')').unwrap()]
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    (shape, &bytes[10 + hlen..])
}

/// (width, height, color type, bit depth, pixels) of a PNG.
fn decode_png(bytes: &[u8]) -> (u32, u32, png::ColorType, png::BitDepth, Vec<u8>) {
    let mut reader = png::Decoder::new(std::io::Cursor::new(bytes))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (
        info.width,
        info.height,
        info.color_type,
        info.bit_depth,
        pixels,
    )
}

#[test]
fn png_views_show_exactly_the_stored_pixels() {
    let schema = "djfs_png_demo";
    let (_dir, config) = demo_with_pictures(schema);
    let mount = Mount::new(&config, Some(schema), &[]);

    // 12 image rows x 3 columns (in-table, S3, folder store) in Picture, Test id=1 b0 (3x4 float)
    // and id=2 b2 (40x50 zeros), and the two Slide pictures.
    assert_eq!(verify(&config, &mount, schema), 12 * 3 + 2 + 2);

    // The view is listed right after its .npy; arrays that are not images have none.
    assert_eq!(
        names(&mount.path.join("Picture/picture_id=1")),
        [
            "picture_id",
            "description",
            "image.npy",
            "image.png",
            "image_s3.npy",
            "image_s3.png",
            "image_local.npy",
            "image_local.png"
        ]
    );
    for id in 20..=30 {
        let row = mount.path.join(format!("Picture/picture_id={id}"));
        let listed = names(&row);
        assert!(
            listed.iter().all(|n| !n.ends_with(".png")),
            "{id}: {listed:?}"
        );
        assert_eq!(
            std::fs::metadata(row.join("image.png"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    // The seed's Slide: decoded here, pixel (x, y) is arr[y, x] of the .npy beside it.
    for n in [0, 1] {
        let row = mount.path.join(format!("Slide/image_number={n}"));
        let png_bytes = std::fs::read(row.join("image_array.png")).unwrap();
        let npy_bytes = std::fs::read(row.join("image_array.npy")).unwrap();
        let (shape, data) = npy(&npy_bytes);
        assert_eq!(shape, [200, 300, 3]);
        let (w, h, color, depth, pixels) = decode_png(&png_bytes);
        assert_eq!((w, h), (300, 200));
        assert_eq!((color, depth), (png::ColorType::Rgb, png::BitDepth::Eight));
        let (h, w) = (h as usize, w as usize);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3 {
                    assert_eq!(
                        pixels[(y * w + x) * 3 + c],
                        data[y + x * h + c * h * w],
                        "Slide {n} pixel ({x}, {y}) channel {c}"
                    );
                }
            }
        }
        // The picture's corner label is white text on a dark background: not all one colour.
        assert!(pixels.iter().any(|&p| p > 200) && pixels.iter().any(|&p| p < 50));
    }

    // External views are content-addressed: the same bytes on every open.
    let slide = mount.path.join("Slide/image_number=0/image_array.png");
    assert_eq!(
        std::fs::read(&slide).unwrap(),
        std::fs::read(&slide).unwrap()
    );
}

#[test]
fn png_views_are_read_only_and_follow_changes() {
    let schema = "djfs_png_rw";
    let (_dir, config) = demo_with_pictures(schema);
    let mount = Mount::new(&config, Some(schema), &[]);
    let row = mount.path.join("Picture/picture_id=1");
    let view = row.join("image.png");
    let before = std::fs::read(&view).unwrap();
    let errno = |r: std::io::Result<()>| r.unwrap_err().raw_os_error();

    // Writes, truncation, removal and renames are refused, with a log line.
    assert_eq!(errno(std::fs::write(&view, b"x")), Some(libc::EPERM));
    assert_eq!(
        errno(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&view)
                .map(|_| ())
        ),
        Some(libc::EPERM)
    );
    // A name about an attribute that is none of its files (any other name is a temporary
    // file, see tests/tools.rs).
    assert_eq!(
        errno(std::fs::write(row.join("image.bak"), b"x")),
        Some(libc::EPERM)
    );
    assert_eq!(errno(std::fs::remove_file(&view)), Some(libc::EPERM));
    assert_eq!(
        errno(std::fs::rename(&view, row.join("other.png"))),
        Some(libc::EPERM)
    );
    assert_eq!(std::fs::read(&view).unwrap(), before, "unchanged");
    let log = mount.log_text();
    assert!(
        log.contains("Picture/picture_id=1/image.png: a read-only view"),
        "{log}"
    );
    assert!(log.contains("image.png is a read-only view"), "{log}");

    // Another client changes the array: the view follows within the refresh delay.
    python(
        "check_png.py",
        &["update", config.to_str().unwrap(), schema, "2"],
    );
    let changed = mount.path.join("Picture/picture_id=2/image.png");
    assert!(
        eventually(Duration::from_secs(5), || {
            std::fs::read(&changed)
                .map(|b| decode_png(&b).0 == 8)
                .unwrap_or(false)
        }),
        "{}",
        mount.log_text()
    );
    let (w, h, color, _, pixels) = decode_png(&std::fs::read(&changed).unwrap());
    assert_eq!((w, h, color), (8, 6, png::ColorType::Grayscale));
    let want: Vec<u8> = (0..48u8).map(|i| i * 5).collect();
    assert_eq!(pixels, want);
    assert_eq!(
        std::fs::metadata(&changed).unwrap().len(),
        std::fs::read(&changed).unwrap().len() as u64
    );

    // A row folder copied out of the mount carries its views: copied back in as a new row
    // (`cp -r`), the .png files are accepted without effect and the row is inserted.
    let copy = tempfile::tempdir().unwrap();
    let out = copy.path().join("picture_id=40");
    common::run_ok(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(mount.path.join("Picture/picture_id=3"))
            .arg(&out),
    );
    assert!(out.join("image.png").is_file() && out.join("image_s3.png").is_file());
    std::fs::write(out.join("picture_id"), b"40\n").unwrap();
    let cp = common::run_ok(
        std::process::Command::new("cp")
            .arg("-r")
            .arg(&out)
            .arg(mount.path.join("Picture")),
    );
    assert!(
        cp.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&cp.stderr)
    );
    // Its views are listed once it is no longer new (10 s after the insert).
    let copied = mount.path.join("Picture/picture_id=40/image.png");
    assert!(!copied.exists(), "views of a new row are not listed yet");
    assert!(eventually(Duration::from_secs(15), || copied.exists()));
    assert_eq!(
        std::fs::read(&copied).unwrap(),
        std::fs::read(mount.path.join("Picture/picture_id=3/image.png")).unwrap()
    );

    // `rm -r` of a row removes the .npy files first; their views go with them.
    let rm = std::process::Command::new("rm")
        .arg("-r")
        .arg(&row)
        .output()
        .unwrap();
    assert!(
        rm.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&rm.stderr),
        mount.log_text()
    );
    assert!(!row.exists());
    // Everything else still matches the client (row 1 gone, row 2 changed, row 40 new).
    assert_eq!(verify(&config, &mount, schema), 12 * 3 + 2 + 2);
    drop(mount);

    // On a read-only mount: EROFS.
    let mount = Mount::new(&config, Some(schema), &["--read-only"]);
    let view = mount.path.join("Picture/picture_id=3/image.png");
    assert!(std::fs::read(&view)
        .unwrap()
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    assert_eq!(errno(std::fs::write(&view, b"x")), Some(libc::EROFS));
    assert_eq!(errno(std::fs::remove_file(&view)), Some(libc::EROFS));
}
