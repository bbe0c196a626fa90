#[test]
fn timing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let store = node::store::Store::create(&path).unwrap();
    let mut b = store.batch().unwrap();
    for i in 0..200u32 {
        let mut v = vec![0u8; 1 << 20];
        v[..4].copy_from_slice(&i.to_le_bytes());
        b.put_blob(&v).unwrap();
    }
    b.commit().unwrap();
    drop(store);
    let t = std::time::Instant::now();
    let store = node::store::Store::open(&path).unwrap();
    eprintln!(
        "open of {} MB: {:?}",
        std::fs::metadata(&path).unwrap().len() >> 20,
        t.elapsed()
    );
    drop(store);
    let t = std::time::Instant::now();
    let db = redb::Database::open(&path).unwrap();
    eprintln!("plain redb open: {:?}", t.elapsed());
    drop(db);
}
