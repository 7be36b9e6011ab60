use crate::*;

fn sandbox(id: &str, name: &str) -> SandboxRecord {
    SandboxRecord {
        id: id.to_owned(),
        metadata: PodMetadata {
            name: name.to_owned(),
            uid: "uid-1".to_owned(),
            namespace: "default".to_owned(),
            attempt: 0,
        },
        state: SandboxState::Ready,
        created_at_ns: 1,
        runtime_handler: "runc".to_owned(),
        labels: [("app".to_owned(), "web".to_owned())].into(),
        annotations: Default::default(),
        network: Default::default(),
    }
}

#[test]
fn records_survive_reopening_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/meta.redb");
    {
        let store = Store::open(&path).unwrap();
        store.put(&sandbox("aaa1", "web")).unwrap();
        store.put(&sandbox("bbb2", "db")).unwrap();
        store.set_meta("pod_cidr", "10.0.0.0/24").unwrap();
        assert!(store.delete::<SandboxRecord>("bbb2").unwrap());
        assert!(!store.delete::<SandboxRecord>("bbb2").unwrap());
    }
    let store = Store::open(&path).unwrap();
    let all: Vec<SandboxRecord> = store.load_all().unwrap();
    assert_eq!(all, vec![sandbox("aaa1", "web")]);
    assert_eq!(
        store.get::<SandboxRecord>("aaa1").unwrap(),
        Some(sandbox("aaa1", "web"))
    );
    assert_eq!(store.get::<SandboxRecord>("zzz").unwrap(), None);
    assert_eq!(
        store.get_meta("pod_cidr").unwrap().as_deref(),
        Some("10.0.0.0/24")
    );
    assert!(store.load_all::<ContainerRecord>().unwrap().is_empty());
}

#[test]
fn a_batch_lands_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("meta.redb")).unwrap();
    {
        let mut batch = store.batch().unwrap();
        batch.put(&sandbox("a", "one")).unwrap();
        batch.put(&sandbox("b", "two")).unwrap();
        // dropped without commit
    }
    assert!(store.load_all::<SandboxRecord>().unwrap().is_empty());
    let mut batch = store.batch().unwrap();
    batch.put(&sandbox("a", "one")).unwrap();
    batch.put(&sandbox("b", "two")).unwrap();
    batch.commit().unwrap();
    assert_eq!(store.load_all::<SandboxRecord>().unwrap().len(), 2);
}

#[test]
fn a_newer_schema_or_record_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.redb");
    {
        let store = Store::open(&path).unwrap();
        store.set_meta("schema", "99").unwrap();
    }
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::UnsupportedSchema { found: 99, .. }),
        "{err}"
    );

    let path = dir.path().join("other.redb");
    let store = Store::open(&path).unwrap();
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Future {
        id: String,
    }
    impl Record for Future {
        const TABLE: &'static str = "sandboxes";
        const VERSION: u32 = 7;
        fn id(&self) -> &str {
            &self.id
        }
    }
    store.put(&Future { id: "x".into() }).unwrap();
    let err = store.get::<SandboxRecord>("x").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_garbled_record_is_reported_with_its_table_and_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("meta.redb")).unwrap();
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Wrong {
        id: String,
    }
    impl Record for Wrong {
        const TABLE: &'static str = "containers";
        const VERSION: u32 = 1;
        fn id(&self) -> &str {
            &self.id
        }
    }
    store.put(&Wrong { id: "c1".into() }).unwrap();
    let err = store.load_all::<ContainerRecord>().unwrap_err();
    assert!(err.to_string().contains("containers/c1"), "{err}");
}

#[test]
fn prefix_lookup_resolves_unique_prefixes_and_names_ambiguous_matches() {
    let mut index = IdIndex::default();
    for id in ["abc123", "abd456", "abd789", "f00"] {
        index.insert(id.to_owned());
    }
    assert_eq!(index.resolve("abc").unwrap(), "abc123");
    assert_eq!(index.resolve("abc123").unwrap(), "abc123");
    assert_eq!(index.resolve("f").unwrap(), "f00");
    assert_eq!(
        index.resolve("abd").unwrap_err(),
        LookupError::Ambiguous {
            prefix: "abd".into(),
            matches: vec!["abd456".into(), "abd789".into()]
        }
    );
    assert!(
        index
            .resolve("ab")
            .unwrap_err()
            .to_string()
            .contains("abc123, abd456")
    );
    assert_eq!(
        index.resolve("zz").unwrap_err(),
        LookupError::NotFound {
            prefix: "zz".into()
        }
    );
    assert_eq!(index.resolve("").unwrap_err(), LookupError::EmptyPrefix);
    assert!(index.remove("f00"));
    assert!(index.resolve("f").is_err());
    assert_eq!(index.len(), 3);
}

#[test]
fn an_exact_id_wins_over_a_longer_id_it_prefixes() {
    let mut index = IdIndex::default();
    index.insert("ab".into());
    index.insert("abc".into());
    assert_eq!(index.resolve("ab").unwrap(), "ab");
}

#[test]
fn names_are_reserved_once_and_released_by_name_or_key() {
    let mut names = NameRegistry::default();
    names.reserve("web_default_u1_0", "id1").unwrap();
    names.reserve("web_default_u1_0", "id1").unwrap();
    assert_eq!(
        names.reserve("web_default_u1_0", "id2").unwrap_err(),
        NameError::Taken {
            name: "web_default_u1_0".into(),
            owner: "id1".into()
        }
    );
    assert_eq!(
        names.release_by_key("id1").as_deref(),
        Some("web_default_u1_0")
    );
    names.reserve("web_default_u1_0", "id2").unwrap();
    assert_eq!(names.get("web_default_u1_0"), Some("id2"));
    names.release("web_default_u1_0");
    assert!(names.is_empty());
    assert_eq!(names.release_by_key("id2"), None);
}

#[test]
fn sandbox_and_container_name_keys_follow_the_kubelet() {
    let pod = sandbox("x", "web").metadata;
    let c = ContainerMetadata {
        name: "nginx".into(),
        attempt: 2,
    };
    assert_eq!(sandbox_name(&pod), "web_default_uid-1_0");
    assert_eq!(container_name(&pod, &c), "nginx_web_default_uid-1_2");
}
