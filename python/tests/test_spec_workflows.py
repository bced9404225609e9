"""The spec's Quick Reference and its five Complete Workflow Examples, run
as written. Only the file paths point at real test files; the token is a
test-made JWT with an OrgID claim in DEEPLAKE_API_KEY, and
DEEPLAKE_API_URL=file://... selects the embedded engine."""

import json
import math
import os

import pytest


@pytest.fixture(params=["embedded", "remote"])
def workspace(request):
    """Every workflow runs embedded and against a real `deeplake serve`."""
    name = "remote_workspace" if request.param == "remote" else "embedded_workspace"
    return request.getfixturevalue(name)


def test_quick_reference(in_files):
    query_embedding = [0.3, 0.4, 0.1]

    import os
    from deeplake import Client
    # Initialize -- token + workspace (org_id always extracted from token)
    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")
    # Ingest files (FILE schema)
    client.ingest("videos", {"path": ["video1.mp4", "video2.mp4"]}, schema={"path": "FILE"})
    client.ingest("images", {"path": ["img1.jpg", "img2.png"]}, schema={"path": "FILE"})
    client.ingest("docs", {"path": ["document.pdf", "notes.txt"]}, schema={"path": "FILE"})
    # Ingest data directly (dict = column data)
    client.ingest("embeddings", {
    "text": ["doc1", "doc2", "doc3"],
    "embedding": [[0.1, 0.2, 0.0], [0.3, 0.4, 0.1], [0.5, 0.6, 0.2]],
    "label": ["A", "B", "C"],
    })
    # Ingest from HuggingFace
    client.ingest("cifar", {"_huggingface": "cifar10"})
    # Ingest COCO panoptic dataset (format object)
    from deeplake.managed.formats import CocoPanoptic
    client.ingest("panoptic", format=CocoPanoptic(
    images_dir="coco/train2017",
    masks_dir="coco/panoptic_train2017",
    annotations="coco/annotations/panoptic_train2017.json",
    ))
    # Fluent query API
    results = client.table("videos").select("id", "text").limit(10)()
    total = client.query("SELECT count(*) AS n FROM videos")[0]["n"]
    assert len(results) == min(total, 10) and set(results[0]) == {"id", "text"}
    # Fluent query with filters
    results = (
    client.table("videos")
    .select("id", "text", "start_time")
    .where("file_id = $1", "abc")
    .where("start_time > 60")
    .order_by("start_time")
    .limit(10)
    )()
    assert results == []
    # Raw SQL still works
    results = client.query("SELECT * FROM videos LIMIT 10")
    assert len(results) == min(total, 10) and isinstance(results[0]["video_data"], bytes)
    # Vector similarity search (raw SQL)
    emb_pg = "{" + ",".join(str(x) for x in query_embedding) + "}"
    # The spec selects `id` from "embeddings", which its own ingest above
    # gives no `id` column: that is a TableError naming the column...
    from deeplake.managed import TableError
    import pytest
    with pytest.raises(TableError, match="Query failed: .*No field named id"):
        results = client.query("""
        SELECT id, text, embedding <#> $1::float4[] AS similarity
        FROM embeddings
        ORDER BY similarity DESC
        LIMIT 10
        """, (emb_pg,))
    # ...and the same search without it runs.
    results = client.query("""
    SELECT text, embedding <#> $1::float4[] AS similarity
    FROM embeddings
    ORDER BY similarity DESC
    LIMIT 10
    """, (emb_pg,))

    # doc2 is the query itself: cosine 1.
    assert results[0]["text"] == "doc2"
    assert math.isclose(results[0]["similarity"], 1.0, rel_tol=1e-6)
    assert [r["similarity"] for r in results] == sorted((r["similarity"] for r in results), reverse=True)
    # 75 s + 12 s of video, keyframes every 5 s: ceil(75/10) = 8 and
    # ceil(12/10) = 2 ten-second segments.
    segments = client.query("SELECT file_id, count(*) AS n FROM videos GROUP BY file_id ORDER BY n")
    assert [s["n"] for s in segments] == [2, 8]
    assert client.query("SELECT count(*) AS n FROM images")[0]["n"] == 2
    kinds = client.query("SELECT count(page_index) AS pages, count(chunk_index) AS chunks FROM docs")[0]
    assert kinds["pages"] == 3 and kinds["chunks"] > 30
    assert client.query("SELECT count(*) AS n FROM cifar")[0]["n"] == 200
    assert client.query("SELECT count(*) AS n FROM panoptic")[0]["n"] == 3
    assert sorted(client.list_tables()) == ["cifar", "docs", "embeddings", "images", "panoptic", "videos"]


def test_workflow_1_ingest_videos_and_search(in_files, capsys):
    camera1, camera2 = str(in_files / "camera1.mp4"), str(in_files / "camera2.mp4")

    import os
    from deeplake import Client

    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")

    # Ingest video files (FILE schema)
    result = client.ingest("security_videos", {
        "path": [camera1, camera2],
    }, schema={"path": "FILE"})
    print(f"Ingested {result['row_count']} video segments")

    # Fluent query for segments
    segments = (
        client.table("security_videos")
        .select("id", "file_id", "start_time", "end_time", "text")
        .where("start_time > 60")
        .limit(10)
    )()
    for seg in segments:
        print(f"Segment {seg['id']}: {seg['start_time']}s - {seg['end_time']}s")

    out = capsys.readouterr().out
    assert f"Ingested {result['row_count']} video segments" in out
    assert result["table_name"] == "security_videos" and result["row_count"] == 8 + 2
    # Only camera1 (75 s) has a segment starting after 60 s, ending at 75 s.
    assert len(segments) == 1
    assert segments[0]["start_time"] > 60 and math.isclose(segments[0]["end_time"], 75.0, abs_tol=0.2)
    assert isinstance(segments[0]["id"], str) and segments[0]["id"].startswith(segments[0]["file_id"])
    assert f"Segment {segments[0]['id']}: " in out


def test_workflow_2_build_semantic_search_index(in_files, capsys):
    import os
    from deeplake import Client
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer("all-MiniLM-L6-v2")
    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")

    # Prepare documents with embeddings
    documents = ["Doc about AI", "Doc about ML", "Doc about databases"]
    embeddings = model.encode(documents).tolist()

    # Ingest
    client.ingest("search_index", {
        "text": documents,
        "embedding": embeddings,
    })

    # Search
    query_emb = model.encode("artificial intelligence").tolist()
    emb_pg = "{" + ",".join(str(x) for x in query_emb) + "}"
    results = client.query("""
        SELECT text, embedding <#> $1::float4[] AS similarity
        FROM search_index
        ORDER BY similarity DESC
        LIMIT 5
    """, (emb_pg,))
    for r in results:
        print(f"{r['similarity']:.3f}: {r['text']}")

    import numpy as np

    q = np.asarray(query_emb)
    expected = sorted(
        ((float(np.dot(q, e) / np.linalg.norm(q) / np.linalg.norm(e)), d) for d, e in zip(documents, embeddings)),
        reverse=True,
    )
    assert [r["text"] for r in results] == [d for _, d in expected]
    assert results[0]["text"] == "Doc about AI"
    for r, (score, _) in zip(results, expected):
        assert math.isclose(r["similarity"], score, abs_tol=1e-5)
    assert f"{results[0]['similarity']:.3f}: Doc about AI" in capsys.readouterr().out


def test_workflow_3_process_pdf_documents(in_files, capsys):
    manual1, manual2 = str(in_files / "manual1.pdf"), str(in_files / "manual2.pdf")

    import os
    from deeplake import Client

    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")

    # Ingest PDFs (each page becomes a row)
    result = client.ingest("manuals", {
        "path": [manual1, manual2],
    }, schema={"path": "FILE"})
    print(f"Processed {result['row_count']} pages")

    # Search within PDFs
    pages = client.query("""
        SELECT file_id, page_index, text
        FROM manuals
        WHERE text LIKE '%installation%'
    """)
    for page in pages:
        print(f"Found in file {page['file_id']}, page {page['page_index']}")

    assert result["row_count"] == 6 + 2
    # The pages poppler's pdftotext (an independent engine) finds the word on.
    import subprocess
    expected = [
        i for i in range(6)
        if "installation" in subprocess.run(
            ["pdftotext", "-f", str(i + 1), "-l", str(i + 1), manual1, "-"],
            capture_output=True, text=True, check=True).stdout
    ]
    assert expected and sorted(p["page_index"] for p in pages) == expected
    assert len({p["file_id"] for p in pages}) == 1
    assert "Processed 8 pages" in capsys.readouterr().out


def test_workflow_4_train_a_pytorch_model(in_files):
    import os
    from torch.utils.data import DataLoader
    from deeplake import Client

    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")

    # Ingest from HuggingFace
    client.ingest("cifar10", {"_huggingface": "cifar10"})

    # Stream directly into PyTorch
    ds = client.open_table("cifar10")
    loader = DataLoader(ds.pytorch(), batch_size=64, shuffle=True, num_workers=4)

    seen = []
    for batch in loader:
        images, labels = batch["img"], batch["label"]
        # training_step(images, labels)
        seen.append((tuple(images.shape), images.dtype, labels.tolist()))

    import torch

    assert [s[0] for s in seen] == [(64, 32, 32, 3)] * 3 + [(8, 32, 32, 3)]
    assert all(s[1] == torch.uint8 for s in seen)
    # Every row exactly once, in a shuffled order.
    labels = [l for s in seen for l in s[2]]
    assert sorted(labels) == sorted(i % 10 for i in range(200))
    assert labels != [i % 10 for i in range(200)]


def test_workflow_5_ingest_coco_panoptic_and_query(in_files, capsys):
    coco = in_files / "coco"

    import os
    import json
    from deeplake import Client
    from deeplake.managed.formats import CocoPanoptic

    client = Client(token=os.environ["DEEPLAKE_API_KEY"], workspace_id="my-workspace")

    # Ingest panoptic dataset using format object
    result = client.ingest("panoptic_train", format=CocoPanoptic(
        images_dir=str(coco / "train2017"),
        masks_dir=str(coco / "panoptic_train2017"),
        annotations=str(coco / "annotations" / "panoptic_train2017.json"),
    ))
    print(f"Ingested {result['row_count']} images")

    # Query for images
    rows = client.query("""
        SELECT image_id, filename, segments_info
        FROM panoptic_train
        LIMIT 10
    """)
    for row in rows:
        segments = json.loads(row["segments_info"])
        print(f"Image {row['filename']}: {len(segments)} segments")

    with open(coco / "annotations" / "panoptic_train2017.json") as f:
        truth = json.load(f)
    assert result["row_count"] == 3
    by_id = {a["image_id"]: a["segments_info"] for a in truth["annotations"]}
    assert sorted(r["image_id"] for r in rows) == [1, 2, 3]
    for r in rows:
        assert json.loads(r["segments_info"]) == by_id[r["image_id"]]
        assert r["segments_info"].value == by_id[r["image_id"]]
    out = capsys.readouterr().out
    assert "Ingested 3 images" in out and "Image 000000000001.jpg: 2 segments" in out
