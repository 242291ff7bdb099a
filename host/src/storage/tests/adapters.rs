//! Uploaded adapters, shared between nodes.

use super::*;

async fn uploaded_adapters_are_kept_by_content(db: Backend) {
    let nodes = db.nodes(2).await;
    assert!(nodes[0].adapter_versions().await.unwrap().is_empty());
    nodes[0]
        .put_adapter("chaos", "aa", b"v1", at(0))
        .await
        .unwrap();
    nodes[1]
        .put_adapter("example", "bb", b"ex", at(1))
        .await
        .unwrap();
    nodes[1]
        .put_adapter("chaos", "cc", b"v2", at(2))
        .await
        .unwrap();
    nodes[0]
        .put_adapter("again", "cc", b"v2", at(3))
        .await
        .unwrap();
    assert_eq!(
        nodes[0].adapter_versions().await.unwrap(),
        [("again", "cc"), ("chaos", "cc"), ("example", "bb")]
            .map(|(id, sha)| (id.to_string(), sha.to_string()))
    );
    assert_eq!(
        nodes[1].adapter_component("aa").await.unwrap(),
        Some(b"v1".to_vec())
    );
    assert_eq!(
        nodes[1].adapter_component("cc").await.unwrap(),
        Some(b"v2".to_vec())
    );
    assert_eq!(nodes[1].adapter_component("dd").await.unwrap(), None);
}

on_both_backends!(uploaded_adapters_are_kept_by_content,);
