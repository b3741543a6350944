//! Full-server tests of the CSV imports and exports over real HTTP on
//! loopback, on both engines.

mod common;

use common::{Reply, TestServer, reply};
use reqwest::StatusCode;
use serde_json::json;

const BOM: &str = "\u{feff}";
const SKU_HEADER: &str = "code,name,product_id,tracked,barcodes,option_tags";

/// Posts `body` to `path` with `content_type`, as `token`.
async fn post_csv(
    server: &TestServer,
    path: &str,
    token: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> Reply {
    let r = server
        .http
        .post(server.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    reply(r).await
}

async fn import_skus(server: &TestServer, body: &str) -> Reply {
    post_csv(
        server,
        "/api/v1/skus/import",
        &server.owner,
        "text/csv",
        body.to_string(),
    )
    .await
}

async fn import_counts(server: &TestServer, location: &str, body: &str) -> Reply {
    post_csv(
        server,
        &format!("/api/v1/locations/{location}/stock/import"),
        &server.owner,
        "text/csv; charset=utf-8",
        body.to_string(),
    )
    .await
}

/// GETs a CSV export as `token`; checks it is CSV with a byte-order mark
/// and returns its lines without the mark.
async fn export(server: &TestServer, path: &str, token: &str) -> Vec<String> {
    let r = server
        .http
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), StatusCode::OK, "{}: {path}", server.engine);
    assert_eq!(
        r.headers()["content-type"],
        "text/csv; charset=utf-8",
        "{}",
        server.engine
    );
    let text = r.text().await.expect("body");
    let text = text.strip_prefix(BOM).expect("a byte-order mark");
    text.split_terminator("\r\n").map(str::to_string).collect()
}

/// The `field`s of a 422 `invalid_input` answer.
fn bad_lines(server: &TestServer, r: &Reply) -> Vec<String> {
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        "{}: {}",
        server.engine,
        r.text
    );
    r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect()
}

/// The reason given for `field` in a 422 answer.
fn reason(r: &Reply, field: &str) -> String {
    r.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == field)
        .map(|e| e["reason"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no error for {field}: {}", r.text))
}

/// Every SKU code of the tenant, in creation order.
async fn sku_codes(server: &TestServer) -> Vec<String> {
    let r = server.get("/api/v1/skus?limit=500").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["code"].as_str().unwrap().to_string())
        .collect()
}

async fn count_movements(server: &TestServer, location: &str) -> usize {
    let r = server
        .get(&format!(
            "/api/v1/movements?location={location}&kind=count&limit=500"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["items"].as_array().unwrap().len()
}

/// Rewrites a CSV file field by field.
fn rewrite(csv_text: &str, mut edit: impl FnMut(usize, &str) -> String) -> String {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(csv_text.as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(reader.headers().unwrap().iter())
        .unwrap();
    for record in reader.records() {
        let record = record.unwrap();
        let fields: Vec<String> = record.iter().enumerate().map(|(i, f)| edit(i, f)).collect();
        writer.write_record(&fields).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skus_round_trip() {
    let targets = common::servers("csv::skus_round_trip (target)").await;
    let sources = common::servers("csv::skus_round_trip").await;
    for (server, target) in sources.into_iter().zip(targets) {
        let r = server
            .post(
                "/api/v1/products",
                json!({"code": "TS", "name": "반팔 티셔츠"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let product = r.body["id"].as_str().unwrap().to_string();
        for sku in [
            json!({"code": "TS-M", "name": "반팔 티셔츠 M", "product_id": product,
                   "barcodes": ["8801234567893", "TS-M-1"], "option_tags": ["size:M", "color:빨강"]}),
            json!({"code": "CAP", "name": "Cap, \"red\"", "tracked": false}),
            json!({"code": "SOCK", "name": "Socks"}),
        ] {
            let r = server.post("/api/v1/skus", sku).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
        let lines = export(&server, "/api/v1/skus/export.csv", &server.owner).await;
        assert_eq!(
            lines,
            [
                SKU_HEADER.to_string(),
                format!("TS-M,반팔 티셔츠 M,{product},true,8801234567893|TS-M-1,size:M|color:빨강"),
                "CAP,\"Cap, \"\"red\"\"\",,false,,".to_string(),
                "SOCK,Socks,,true,,".to_string(),
            ],
            "{}",
            server.engine
        );
        let exported = lines.join("\r\n") + "\r\n";

        // The same file with new codes and barcodes imports into the same
        // tenant, and exports again as it was.
        let renamed = rewrite(&exported, |column, field| match column {
            0 => format!("N-{field}"),
            4 if !field.is_empty() => field
                .split('|')
                .map(|b| format!("N{b}"))
                .collect::<Vec<_>>()
                .join("|"),
            _ => field.to_string(),
        });
        let r = import_skus(&server, &format!("{BOM}{renamed}")).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}: {}",
            server.engine,
            r.text
        );
        assert_eq!(r.body, json!({"created": 3}));
        let again = export(&server, "/api/v1/skus/export.csv", &server.owner).await;
        assert_eq!(again.len(), 7, "{}", server.engine);
        assert_eq!(
            again[4..],
            [
                format!(
                    "N-TS-M,반팔 티셔츠 M,{product},true,N8801234567893|NTS-M-1,size:M|color:빨강"
                ),
                "N-CAP,\"Cap, \"\"red\"\"\",,false,,".to_string(),
                "N-SOCK,Socks,,true,,".to_string(),
            ],
            "{}",
            server.engine
        );
        let r = server.get("/api/v1/skus/N-TS-M").await;
        assert_eq!(r.body["option_tags"], json!(["size:M", "color:빨강"]));

        // A fresh server has none of these products: those rows are bad.
        let r = import_skus(&target, &exported).await;
        assert_eq!(bad_lines(&target, &r), ["line 2"]);
        assert!(reason(&r, "line 2").contains("no product"), "{}", r.text);
        assert!(sku_codes(&target).await.is_empty());
        // Without the product ids the file imports as it was exported.
        let unlinked = rewrite(&exported, |column, field| match column {
            2 => String::new(),
            _ => field.to_string(),
        });
        let r = import_skus(&target, &unlinked).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}: {}",
            target.engine,
            r.text
        );
        let copied = export(&target, "/api/v1/skus/export.csv", &target.owner).await;
        assert_eq!(
            copied,
            unlinked.lines().map(str::to_string).collect::<Vec<_>>(),
            "{}",
            target.engine
        );
        target.stop().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sku_rows_are_all_reported_and_nothing_is_created() {
    for server in common::servers("csv::bad_sku_rows").await {
        let r = server
            .post(
                "/api/v1/skus",
                json!({"code": "OLD-1", "name": "Old", "barcodes": ["880000000001"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let file = "code,name,barcodes,tracked\n\
                    G-1,Good one,,\n\
                    bad code,Bad code,,\n\
                    G-2,Good two,880000000002,y\n\
                    OLD-1,Exists already,,\n\
                    G-3,\"A name on\ntwo lines\",,0\n\
                    G-2,Twice in the file,,\n\
                    G-4,Good four,,n\n";
        let r = import_skus(&server, file).await;
        assert_eq!(
            bad_lines(&server, &r),
            ["line 3", "line 5", "line 8"],
            "{}",
            r.text
        );
        assert!(reason(&r, "line 3").starts_with("code: "), "{}", r.text);
        assert!(
            reason(&r, "line 5").contains("already exists"),
            "{}",
            r.text
        );
        assert!(reason(&r, "line 8").contains("line 4"), "{}", r.text);
        assert_eq!(sku_codes(&server).await, ["OLD-1"], "{}", server.engine);

        // Each kind of bad row, alone among good ones.
        let cases: [(&str, &str); 8] = [
            (
                "code,name,barcodes\nA,a,880000000001\n",
                "already belongs to SKU \"OLD-1\"",
            ),
            (
                "code,name,barcodes\nA,a,B1\nB,b,X|B1\n",
                "is also on line 2",
            ),
            (
                "code,name,barcodes\nA,a,B1|B1\n",
                "barcodes[1]: is listed twice",
            ),
            ("code,name,tracked\nA,a,maybe\n", "tracked: \"maybe\""),
            ("code,name,product_id\nA,a,P-1\n", "is not a product id"),
            ("code,name\nA,\n", "name: must not be empty"),
            (
                "code,name\nA,a,extra\n",
                "has 3 fields where the header has 2",
            ),
            ("code,name\nA,a\nB,a\tb\u{7}\n", "control characters"),
        ];
        for (file, expected) in cases {
            let width = file.lines().next().unwrap().split(',').count();
            let file = format!("{file}OK-1,fine{}\n", ",".repeat(width - 2));
            let r = import_skus(&server, &file).await;
            let lines = bad_lines(&server, &r);
            assert_eq!(lines.len(), 1, "{file}: {}", r.text);
            assert!(
                reason(&r, &lines[0]).contains(expected),
                "{file}: {}",
                r.text
            );
        }
        assert_eq!(sku_codes(&server).await, ["OLD-1"], "{}", server.engine);

        // Whole-file problems.
        let r = import_skus(&server, "name,colour\nA,red\n").await;
        assert_eq!(bad_lines(&server, &r), ["line 1", "line 1"], "{}", r.text);
        assert!(r.text.contains("\\\"code\\\" is missing"), "{}", r.text);
        assert!(
            r.text.contains("unknown column \\\"colour\\\""),
            "{}",
            r.text
        );
        let r = import_skus(&server, "").await;
        assert_eq!(bad_lines(&server, &r), ["line 1"]);
        let r = post_csv(
            &server,
            "/api/v1/skus/import",
            &server.owner,
            "text/csv",
            b"code,name\nA,\xb9\xdd\xc6\xc8\n".to_vec(),
        )
        .await;
        assert_eq!(bad_lines(&server, &r), ["line 2"]);
        assert!(reason(&r, "line 2").contains("UTF-8"), "{}", r.text);

        // A file over the JSON body limit is read; one over the row limit is not.
        let mut big = String::from("code,name\n");
        for i in 0..25_000 {
            big.push_str(&format!("bad code {i},{:040}\n", i));
        }
        assert!(big.len() > 1024 * 1024);
        let r = import_skus(&server, &big).await;
        let lines = bad_lines(&server, &r);
        assert_eq!(lines.len(), 1_001, "{}", server.engine);
        assert_eq!(
            (lines[0].as_str(), lines[1_000].as_str()),
            ("line 2", "rows")
        );
        assert!(reason(&r, "rows").starts_with("24000 more"), "{}", r.text);
        let rows_max = jaego_core::limits::CSV_ROWS_MAX;
        let mut huge = String::from("code,name\n");
        for i in 0..=rows_max {
            huge.push_str(&format!("S{i},s\n"));
        }
        let r = import_skus(&server, &huge).await;
        assert_eq!(bad_lines(&server, &r), [format!("line {}", rows_max + 2)]);
        assert_eq!(sku_codes(&server).await, ["OLD-1"], "{}", server.engine);
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_counts_round_trip() {
    for server in common::servers("csv::stock_counts_round_trip").await {
        let (wh, _) = server.seed("WH1", "A", 10).await;
        let r = import_skus(&server, "code,name\nB,b\nC,c\nD,d\n").await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let r = import_counts(&server, &wh, "sku_code,counted\nA,7\nB,0\nC,25\n").await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", server.engine, r.text);
        assert_eq!(r.body, json!({"counted": 3}));
        for (sku, on_hand) in [("A", 7), ("B", 0), ("C", 25)] {
            assert_eq!(
                server.balance(sku, &wh).await["on_hand"],
                on_hand,
                "{}: {sku}",
                server.engine
            );
        }
        let r = server
            .get(&format!("/api/v1/movements?location={wh}&kind=count"))
            .await;
        let mut counted: Vec<(i64, String)> = r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                assert_eq!(m["reason"], "csv import");
                (
                    m["quantity"].as_i64().unwrap(),
                    m["delta"]["on_hand"].to_string(),
                )
            })
            .collect();
        counted.sort();
        assert_eq!(
            counted,
            [(-3, "-3".into()), (0, "0".into()), (25, "25".into())]
        );
        server.assert_verified().await;

        // The export shows every figure, after a hold on C.
        let r = server
            .post(
                "/api/v1/reservations",
                json!({"location": wh, "lines": [{"sku": "C", "quantity": 2}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let lines = export(
            &server,
            &format!("/api/v1/locations/{wh}/stock.csv"),
            &server.owner,
        )
        .await;
        assert_eq!(
            lines,
            [
                "sku_code,on_hand,reserved,allocated,incoming,in_transit,safety_stock,available",
                "A,7,0,0,0,0,0,7",
                "B,0,0,0,0,0,0,0",
                "C,25,2,0,0,0,0,23",
            ],
            "{}",
            server.engine
        );

        // Bad rows: none is applied.
        let movements = count_movements(&server, &wh).await;
        let file = "sku_code,counted\n\
                    A,5\n\
                    NOPE,1\n\
                    B,-1\n\
                    C,1.5\n\
                    A,3\n\
                    D,1000000001\n\
                    ,4\n";
        let r = import_counts(&server, &wh, file).await;
        assert_eq!(
            bad_lines(&server, &r),
            ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"],
            "{}",
            r.text
        );
        assert!(
            reason(&r, "line 3").contains("no SKU \"NOPE\""),
            "{}",
            r.text
        );
        assert!(reason(&r, "line 6").contains("line 2"), "{}", r.text);
        assert_eq!(server.balance("A", &wh).await["on_hand"], 7);
        assert_eq!(count_movements(&server, &wh).await, movements);
        let r = import_counts(&server, &wh, "sku,count\nA,1\n").await;
        assert_eq!(bad_lines(&server, &r), ["line 1"; 4], "{}", r.text);

        // A named reason, an Idempotency-Key replay, an unknown location.
        let send = || {
            server
                .http
                .post(server.url(&format!(
                    "/api/v1/locations/{wh}/stock/import?reason=weekly%20count"
                )))
                .bearer_auth(&server.owner)
                .header("content-type", "text/csv")
                .header("idempotency-key", "count-1")
                .body("sku_code,counted\nD,4\n")
        };
        let first = reply(send().send().await.unwrap()).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.text);
        let second = reply(send().send().await.unwrap()).await;
        assert_eq!(
            (second.status, &second.body),
            (StatusCode::OK, &json!({"counted": 1}))
        );
        assert_eq!(second.headers["idempotent-replayed"], "true");
        assert_eq!(count_movements(&server, &wh).await, movements + 1);
        let r = server
            .get(&format!("/api/v1/movements?sku=D&location={wh}"))
            .await;
        assert_eq!(r.body["items"][0]["reason"], "weekly count");
        assert_eq!(server.balance("D", &wh).await["on_hand"], 4);
        let r = import_counts(&server, "NOWHERE", "sku_code,counted\nA,1\n").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        let r = server.get("/api/v1/locations/NOWHERE/stock.csv").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
        server.assert_verified().await;
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_types_and_roles() {
    for server in common::servers("csv::media_types_and_roles").await {
        let (wh, _) = server.seed("WH1", "A", 3).await;
        for content_type in ["application/json", "text/plain", "text/csv; charset=euc-kr"] {
            let r = post_csv(
                &server,
                "/api/v1/skus/import",
                &server.owner,
                content_type,
                "code,name\nB,b\n",
            )
            .await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
                "{content_type}: {}",
                r.text
            );
            let r = post_csv(
                &server,
                &format!("/api/v1/locations/{wh}/stock/import"),
                &server.owner,
                content_type,
                "sku_code,counted\nA,1\n",
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{content_type}: {}",
                r.text
            );
        }
        let r = server
            .call(
                reqwest::Method::POST,
                "/api/v1/skus/import",
                &server.owner,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text);

        let r = server
            .post("/api/v1/tokens", json!({"role": "display", "name": "d"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        let display = r.body["token"].as_str().unwrap().to_string();
        let r = post_csv(
            &server,
            "/api/v1/skus/import",
            &display,
            "text/csv",
            "code,name\nB,b\n",
        )
        .await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            r.text
        );
        let r = post_csv(
            &server,
            &format!("/api/v1/locations/{wh}/stock/import"),
            &display,
            "text/csv",
            "sku_code,counted\nA,1\n",
        )
        .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // Reading is allowed.
        let lines = export(&server, "/api/v1/skus/export.csv", &display).await;
        assert_eq!(lines, [SKU_HEADER, "A,A,,true,,"]);
        let lines = export(
            &server,
            &format!("/api/v1/locations/{wh}/stock.csv"),
            &display,
        )
        .await;
        assert_eq!(lines[1], "A,3,0,0,0,0,0,3");
        let r = server
            .http
            .get(server.url("/api/v1/skus/export.csv"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(sku_codes(&server).await, ["A"], "{}", server.engine);
        assert_eq!(server.balance("A", &wh).await["on_hand"], 3);
        server.stop().await;
    }
}
