//! djfs: a DataJoint schema as folders and files.
//!
//! Layers, from the bottom: `config` (DataJoint's settings), `naming` and `rowname` (names),
//! `codec` (blobs and `.npy`), `catalog` (what the tables are), `backend` (the database in DataJoint's terms: MySQL, and in
//! memory for tests),
//! `namespace` (what each path means), `fs` (the filesystem core with its caches), and
//! `fuse` + `mount` (the thin kernel adapter and the mount command).

pub mod backend;
pub mod cache;
pub mod catalog;
pub mod codec;
pub mod config;
pub mod external;
pub mod fs;
pub mod fuse;
pub mod gc;
pub mod journal;
pub mod mount;
pub mod namespace;
pub mod naming;
pub mod orphans;
pub mod rowname;
pub mod source;
pub mod staging;
pub mod stored;
pub mod stored_write;
pub mod stores;
pub mod views;
pub mod workers;
