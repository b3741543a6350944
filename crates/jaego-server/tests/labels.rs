//! Label templates and SKU labels over real HTTP, on both engines: template
//! CRUD and roles, bad input answered with problem+json and changing
//! nothing, and labels (SVG and PDF) read back by a barcode reader.

mod common;
mod scan;

use jaego_store::events::EventFilter;
use reqwest::{Method, StatusCode};
use rxing::BarcodeFormat;
use serde_json::{Value, json};

use common::{TestServer, assert_problem};

/// An answer whose body may be binary (a PDF).
struct Raw {
    status: StatusCode,
    content_type: String,
    bytes: Vec<u8>,
}

impl Raw {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// As the JSON harness would see it, for `assert_problem`.
    fn reply(&self) -> common::Reply {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(v) = self.content_type.parse() {
            headers.insert(reqwest::header::CONTENT_TYPE, v);
        }
        common::Reply {
            status: self.status,
            headers,
            body: serde_json::from_slice(&self.bytes).unwrap_or(Value::Null),
            text: self.text(),
        }
    }
}

async fn raw(
    server: &TestServer,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Raw {
    let mut request = server
        .http
        .request(method, server.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = response.bytes().await.expect("body").to_vec();
    Raw {
        status,
        content_type,
        bytes,
    }
}

async fn sku(server: &TestServer, body: Value) {
    let r = server.post("/api/v1/skus", body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
}

/// The catalog the label tests print from.
async fn seed(server: &TestServer) {
    let r = server
        .post(
            "/api/v1/products",
            json!({"code": "TS", "name": "반팔 티셔츠"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let product = r.body["id"].as_str().unwrap().to_string();
    sku(
        server,
        json!({"code": "TS-01-M", "name": "반팔 티셔츠 화이트 M", "product_id": product,
        "barcodes": ["8801234567893"], "option_tags": ["size:M", "color:white"]}),
    )
    .await;
    sku(server, json!({"code": "TS-02", "name": "청바지 슬림핏"})).await;
    // 13 digits, but the check digit should be 3.
    sku(
        server,
        json!({"code": "TS-03", "name": "양말", "barcodes": ["8801234567894"]}),
    )
    .await;
    sku(
        server,
        json!({"code": "TS-04", "name": "모자", "barcodes": ["4006381333931"]}),
    )
    .await;
    sku(
        server,
        json!({"code": "LONG-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "name": "긴 코드"}),
    )
    .await;
}

async fn template(server: &TestServer, body: Value) -> Value {
    let r = server.post("/api/v1/label-templates", body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}: {}",
        server.engine,
        r.text
    );
    r.body
}

/// The tenant's events of `kinds`, oldest first, as (kind, code).
async fn label_events(server: &TestServer) -> Vec<(String, String)> {
    let tenant = server
        .store
        .authenticate(&server.owner)
        .await
        .unwrap()
        .unwrap()
        .tenant_id;
    let filter = EventFilter {
        kinds: vec!["label_template.*".into()],
        ..EventFilter::default()
    };
    server
        .store
        .events_after(tenant, 0, &filter, 1_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).unwrap();
            (e.kind, data["code"].as_str().unwrap_or("").to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_crud_and_roles() {
    for server in common::servers("labels::templates_crud_and_roles").await {
        let engine = server.engine;
        let manager = server.token("manager").await;
        let staff = server.token("staff").await;
        let integration = server.token("integration").await;
        let display = server.token("display").await;

        let created = template(
            &server,
            json!({"code": "shelf", "name": "선반 라벨", "size": "roll-50x30", "symbology": "ean13",
                   "fields": ["name", "option_tags", "barcode_text"]}),
        )
        .await;
        assert_eq!(
            created["fields"],
            json!(["name", "option_tags", "barcode_text"]),
            "{engine}"
        );
        assert_eq!(created["sheet"]["label_width_mm"], json!(50.0), "{engine}");
        assert_eq!(created["sheet"]["columns"], json!(1), "{engine}");
        let id = created["id"].as_str().unwrap().to_string();

        // Defaults: Code 128, code + name + barcode text.
        let sheet = template(
            &server,
            json!({"code": "a4", "name": "A4", "size": "a4-3x8"}),
        )
        .await;
        assert_eq!(sheet["symbology"], "code128", "{engine}");
        assert_eq!(
            sheet["fields"],
            json!(["sku_code", "name", "barcode_text"]),
            "{engine}"
        );
        assert_eq!(sheet["sheet"]["rows"], json!(8), "{engine}");

        // Read by id and by code, list.
        for key in [id.as_str(), "shelf"] {
            let r = server.get(&format!("/api/v1/label-templates/{key}")).await;
            assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
            assert_eq!(r.body["id"], id.as_str(), "{engine}");
        }
        let r = server.get("/api/v1/label-templates?limit=1").await;
        assert_eq!(r.body["items"][0]["code"], "shelf", "{engine}: {}", r.text);
        let next = r.body["next_cursor"].as_str().unwrap().to_string();
        let r = server
            .get(&format!("/api/v1/label-templates?after={next}"))
            .await;
        assert_eq!(r.body["items"][0]["code"], "a4", "{engine}: {}", r.text);
        assert!(r.body["next_cursor"].is_null(), "{engine}");

        // A taken code.
        let r = server
            .post(
                "/api/v1/label-templates",
                json!({"code": "shelf", "name": "again", "size": "roll-40x20"}),
            )
            .await;
        assert_problem(&r, StatusCode::CONFLICT, "duplicate", engine);

        // A manager changes a template; a patch leaves what it omits.
        let r = server
            .call(
                Method::PATCH,
                "/api/v1/label-templates/shelf",
                &manager,
                Some(json!({"name": "선반 라벨 (작게)", "size": "roll-40x20"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(r.body["size"], "roll-40x20", "{engine}");
        assert_eq!(r.body["symbology"], "ean13", "{engine}");
        assert_eq!(
            r.body["fields"],
            json!(["name", "option_tags", "barcode_text"]),
            "{engine}"
        );
        assert_eq!(r.body["name"], "선반 라벨 (작게)", "{engine}");
        let r = server
            .call(
                Method::PATCH,
                "/api/v1/label-templates/shelf",
                &manager,
                Some(json!({"fields": []})),
            )
            .await;
        assert_eq!(r.body["fields"], json!([]), "{engine}: {}", r.text);

        // Who may do what: every role reads and renders; only owner and
        // manager change templates.
        seed(&server).await;
        for (role, secret) in [
            ("staff", &staff),
            ("integration", &integration),
            ("display", &display),
        ] {
            let r = server
                .call(
                    Method::POST,
                    "/api/v1/label-templates",
                    secret,
                    Some(json!({"code": role, "name": role, "size": "roll-40x20"})),
                )
                .await;
            assert_problem(
                &r,
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{engine} {role} create"),
            );
            let r = server
                .call(
                    Method::PATCH,
                    "/api/v1/label-templates/shelf",
                    secret,
                    Some(json!({"name": "x"})),
                )
                .await;
            assert_problem(
                &r,
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{engine} {role} patch"),
            );
            let r = server
                .call(
                    Method::DELETE,
                    "/api/v1/label-templates/shelf",
                    secret,
                    None,
                )
                .await;
            assert_problem(
                &r,
                StatusCode::FORBIDDEN,
                "forbidden",
                &format!("{engine} {role} delete"),
            );
            let r = server
                .call(Method::GET, "/api/v1/label-templates/shelf", secret, None)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{engine} {role} read");
            let svg = raw(
                &server,
                Method::GET,
                "/api/v1/skus/TS-01-M/label.svg?template=shelf",
                secret,
                None,
            )
            .await;
            assert_eq!(
                svg.status,
                StatusCode::OK,
                "{engine} {role} svg: {}",
                svg.text()
            );
            let pdf = raw(
                &server,
                Method::POST,
                "/api/v1/labels.pdf",
                secret,
                Some(json!({"template": "a4", "items": [{"sku": "TS-02"}]})),
            )
            .await;
            assert_eq!(
                pdf.status,
                StatusCode::OK,
                "{engine} {role} pdf: {}",
                pdf.text()
            );
        }
        let r = server
            .call(
                Method::GET,
                "/api/v1/label-templates/shelf",
                "jg_not_a_token",
                None,
            )
            .await;
        assert_problem(&r, StatusCode::UNAUTHORIZED, "unauthorized", engine);
        let r = server.get("/api/v1/label-templates/shelf").await;
        assert_eq!(
            r.body["name"], "선반 라벨 (작게)",
            "{engine}: refused changes changed it"
        );

        // Delete (by id), then it is gone.
        let r = server
            .call(
                Method::DELETE,
                &format!("/api/v1/label-templates/{id}"),
                &manager,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{engine}: {}", r.text);
        let r = server.get("/api/v1/label-templates/shelf").await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);
        let r = server
            .call(
                Method::DELETE,
                "/api/v1/label-templates/shelf",
                &manager,
                None,
            )
            .await;
        assert_problem(&r, StatusCode::NOT_FOUND, "not_found", engine);

        // Every change wrote its event, and nothing else did.
        assert_eq!(
            label_events(&server).await,
            [
                ("label_template.created", "shelf"),
                ("label_template.created", "a4"),
                ("label_template.updated", "shelf"),
                ("label_template.updated", "shelf"),
                ("label_template.deleted", "shelf"),
            ]
            .map(|(k, c)| (k.to_string(), c.to_string())),
            "{engine}"
        );
        server.stop().await;
    }
}

/// One bad request: method, path, body, and the field the 422 must name
/// (or the status and code it must answer instead).
struct Bad {
    name: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    status: StatusCode,
    code: &'static str,
    /// The violated field (for `invalid_input`) and a piece of its reason.
    field: Option<(&'static str, &'static str)>,
}

fn bad(
    name: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    field: &'static str,
    reason: &'static str,
) -> Bad {
    Bad {
        name,
        method,
        path,
        body,
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "invalid_input",
        field: Some((field, reason)),
    }
}

async fn check(server: &TestServer, case: &Bad) {
    let context = format!("{}: {}", server.engine, case.name);
    let r = raw(
        server,
        case.method.clone(),
        case.path,
        &server.owner,
        case.body.clone(),
    )
    .await;
    let reply = r.reply();
    assert_problem(&reply, case.status, case.code, &context);
    if let Some((field, reason)) = case.field {
        let errors = reply.body["errors"].as_array().cloned().unwrap_or_default();
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == field
                    && e["reason"].as_str().is_some_and(|r| r.contains(reason))),
            "{context}: expected {field} ({reason}) in {}",
            reply.text
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_named_and_changes_nothing() {
    for server in common::servers("labels::bad_input_is_named_and_changes_nothing").await {
        let engine = server.engine;
        seed(&server).await;
        template(
            &server,
            json!({"code": "ean", "name": "EAN", "size": "roll-50x30", "symbology": "ean13"}),
        )
        .await;
        template(
            &server,
            json!({"code": "small", "name": "small", "size": "roll-40x20"}),
        )
        .await;
        template(
            &server,
            json!({"code": "a4", "name": "A4", "size": "a4-3x8"}),
        )
        .await;
        let before_templates = server.get("/api/v1/label-templates").await.body;
        let before_events = label_events(&server).await;

        let post = Method::POST;
        let patch = Method::PATCH;
        let get = Method::GET;
        let many_items: Vec<Value> = (0..201).map(|_| json!({"sku": "TS-02"})).collect();
        let cases = vec![
            // Templates.
            bad(
                "unknown size",
                post.clone(),
                "/api/v1/label-templates",
                Some(json!({"code": "x", "name": "x", "size": "a5"})),
                "size",
                "roll-40x20, roll-50x30, roll-60x40 or a4-3x8",
            ),
            bad(
                "unknown symbology",
                post.clone(),
                "/api/v1/label-templates",
                Some(json!({"code": "x", "name": "x", "size": "a4-3x8", "symbology": "qr"})),
                "symbology",
                "code128 or ean13",
            ),
            bad(
                "unknown field",
                post.clone(),
                "/api/v1/label-templates",
                Some(
                    json!({"code": "x", "name": "x", "size": "a4-3x8", "fields": ["name", "price"]}),
                ),
                "fields[1]",
                "not a label field",
            ),
            bad(
                "field twice",
                post.clone(),
                "/api/v1/label-templates",
                Some(
                    json!({"code": "x", "name": "x", "size": "a4-3x8", "fields": ["name", "name"]}),
                ),
                "fields[1]",
                "listed twice",
            ),
            bad(
                "bad code",
                post.clone(),
                "/api/v1/label-templates",
                Some(json!({"code": "a b", "name": "x", "size": "a4-3x8"})),
                "code",
                "letters, digits",
            ),
            bad(
                "blank name",
                post.clone(),
                "/api/v1/label-templates",
                Some(json!({"code": "x", "name": " ", "size": "a4-3x8"})),
                "name",
                "must not be empty",
            ),
            bad(
                "unknown JSON field",
                post.clone(),
                "/api/v1/label-templates",
                Some(json!({"code": "x", "name": "x", "size": "a4-3x8", "colour": "red"})),
                "colour",
                "unknown field",
            ),
            bad(
                "patch: unknown field",
                patch.clone(),
                "/api/v1/label-templates/ean",
                Some(json!({"name": "changed", "fields": ["weight"]})),
                "fields[0]",
                "not a label field",
            ),
            bad(
                "patch: unknown size",
                patch.clone(),
                "/api/v1/label-templates/ean",
                Some(json!({"name": "changed", "size": "huge"})),
                "size",
                "not a label size",
            ),
            bad(
                "patch: blank name",
                patch.clone(),
                "/api/v1/label-templates/ean",
                Some(json!({"name": ""})),
                "name",
                "must not be empty",
            ),
            // One SKU's label.
            bad(
                "svg: EAN-13 mismatch",
                get.clone(),
                "/api/v1/skus/TS-03/label.svg?template=ean",
                None,
                "sku",
                "SKU \"TS-03\" cannot have an EAN-13 label: its barcode \"8801234567894\" is not a valid EAN-13",
            ),
            bad(
                "svg: unknown template",
                get.clone(),
                "/api/v1/skus/TS-01-M/label.svg?template=nope",
                None,
                "template",
                "no label template",
            ),
            bad(
                "svg: no template",
                get.clone(),
                "/api/v1/skus/TS-01-M/label.svg",
                None,
                "query",
                "template",
            ),
            bad(
                "svg: too long for the label",
                get.clone(),
                "/api/v1/skus/LONG-ABCDEFGHIJKLMNOPQRSTUVWXYZ/label.svg?template=small",
                None,
                "sku",
                "use a larger label",
            ),
            Bad {
                name: "svg: unknown SKU",
                method: get.clone(),
                path: "/api/v1/skus/NOPE/label.svg?template=ean",
                body: None,
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                field: None,
            },
            // A PDF of many.
            bad(
                "pdf: unknown SKU",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": [{"sku": "TS-02"}, {"sku": "NOPE"}]})),
                "items[1].sku",
                "no SKU has the id or code \"NOPE\"",
            ),
            bad(
                "pdf: EAN-13 mismatch",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(
                    json!({"template": "ean", "items": [{"sku": "TS-01-M"}, {"sku": "TS-03", "copies": 2}]}),
                ),
                "items[1].sku",
                "SKU \"TS-03\" cannot have an EAN-13 label",
            ),
            bad(
                "pdf: no copies",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": [{"sku": "TS-02", "copies": 0}]})),
                "items[0].copies",
                "between 1 and 1000",
            ),
            bad(
                "pdf: too many copies",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": [{"sku": "TS-02", "copies": 1001}]})),
                "items[0].copies",
                "between 1 and 1000",
            ),
            bad(
                "pdf: too many labels",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(
                    json!({"template": "a4", "items": [{"sku": "TS-02", "copies": 1000}, {"sku": "TS-01-M", "copies": 1000}, {"sku": "TS-04", "copies": 1}]}),
                ),
                "items",
                "asks for 2001 labels; the limit is 2000",
            ),
            bad(
                "pdf: too many items",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": many_items})),
                "items",
                "the limit is 200",
            ),
            bad(
                "pdf: no items",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": []})),
                "items",
                "at least one",
            ),
            bad(
                "pdf: unknown template",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "nope", "items": [{"sku": "TS-02"}]})),
                "template",
                "no label template",
            ),
            bad(
                "pdf: skip past the sheet",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": [{"sku": "TS-02"}], "skip": 24})),
                "skip",
                "between 0 and 23",
            ),
            bad(
                "pdf: skip on a roll",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "small", "items": [{"sku": "TS-02"}], "skip": 1})),
                "skip",
                "between 0 and 0",
            ),
            bad(
                "pdf: negative copies",
                post.clone(),
                "/api/v1/labels.pdf",
                Some(json!({"template": "a4", "items": [{"sku": "TS-02", "copies": -3}]})),
                "items[0].copies",
                "between 1 and 1000",
            ),
            // Single barcodes.
            bad(
                "barcode: EAN-13 check digit",
                get.clone(),
                "/api/v1/barcodes/check?symbology=ean13&code=8801234567894",
                None,
                "code",
                "the last digit is 4, but the first 12 digits give 3",
            ),
            bad(
                "barcode: EAN-13 letters",
                get.clone(),
                "/api/v1/barcodes/check?symbology=ean13&code=88012345X7893",
                None,
                "code",
                "character 9 ('X')",
            ),
            bad(
                "barcode: EAN-13 length",
                get.clone(),
                "/api/v1/barcode.svg?symbology=ean13&code=12345",
                None,
                "code",
                "this has 5",
            ),
            bad(
                "barcode: Code 128 Korean",
                get.clone(),
                "/api/v1/barcode.svg?symbology=code128&code=%ED%8B%B0%EC%85%94%EC%B8%A0",
                None,
                "code",
                "character 1 ('티')",
            ),
            bad(
                "barcode: unknown symbology",
                get.clone(),
                "/api/v1/barcodes/check?symbology=qr&code=1",
                None,
                "symbology",
                "not a symbology",
            ),
        ];
        for case in &cases {
            check(&server, case).await;
        }
        assert_eq!(
            server.get("/api/v1/label-templates").await.body,
            before_templates,
            "{engine}: templates changed"
        );
        assert_eq!(
            label_events(&server).await,
            before_events,
            "{engine}: events were written"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sku_labels_scan_back() {
    for server in common::servers("labels::sku_labels_scan_back").await {
        let engine = server.engine;
        seed(&server).await;
        template(
            &server,
            json!({"code": "ean", "name": "EAN", "size": "roll-50x30", "symbology": "ean13",
            "fields": ["sku_code", "name", "option_tags", "product_code", "barcode_text"]}),
        )
        .await;
        template(
            &server,
            json!({"code": "c128", "name": "Code 128", "size": "roll-60x40"}),
        )
        .await;

        // (template, SKU, format, what it must scan as)
        let table = [
            ("ean", "TS-01-M", BarcodeFormat::EAN_13, "8801234567893"),
            ("c128", "TS-01-M", BarcodeFormat::CODE_128, "8801234567893"),
            // No barcode: the SKU code, in Code 128, on either template.
            ("c128", "TS-02", BarcodeFormat::CODE_128, "TS-02"),
            ("ean", "TS-02", BarcodeFormat::CODE_128, "TS-02"),
        ];
        for (template, sku, format, want) in table {
            let r = raw(
                &server,
                Method::GET,
                &format!("/api/v1/skus/{sku}/label.svg?template={template}"),
                &server.owner,
                None,
            )
            .await;
            assert_eq!(
                r.status,
                StatusCode::OK,
                "{engine} {template} {sku}: {}",
                r.text()
            );
            assert_eq!(r.content_type, "image/svg+xml", "{engine}");
            let image = r.text();
            let raster = scan::rasterise_svg(&image, 300.0);
            assert_eq!(
                scan::decode(&raster, format).as_deref(),
                Ok(want),
                "{engine} {template} {sku}"
            );
        }
        // The SVG prints the fields asked for, by id as by code.
        let id = server.get("/api/v1/skus/TS-01-M").await.body["id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = raw(
            &server,
            Method::GET,
            &format!("/api/v1/skus/{id}/label.svg?template=ean"),
            &server.owner,
            None,
        )
        .await;
        let image = r.text();
        for text in [
            "TS-01-M",
            "반팔 티셔츠 화이트 M",
            "size:M / color:white",
            ">TS<",
        ] {
            assert!(
                image.contains(text),
                "{engine}: {text} missing from {image}"
            );
        }

        // Single barcodes, and the check digit computed for 12 digits.
        let r = server
            .get("/api/v1/barcodes/check?symbology=ean13&code=880123456789")
            .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text);
        assert_eq!(
            r.body,
            json!({"symbology": "ean13", "code": "8801234567893", "completed": true}),
            "{engine}"
        );
        let r = server
            .get("/api/v1/barcodes/check?symbology=ean13&code=8801234567893")
            .await;
        assert_eq!(r.body["completed"], false, "{engine}");
        let r = raw(
            &server,
            Method::GET,
            "/api/v1/barcode.svg?symbology=ean13&code=400638133393",
            &server.owner,
            None,
        )
        .await;
        assert_eq!(r.content_type, "image/svg+xml", "{engine}");
        let raster = scan::rasterise_svg(&r.text(), 300.0);
        assert_eq!(
            scan::decode(&raster, BarcodeFormat::EAN_13).as_deref(),
            Ok("4006381333931"),
            "{engine}"
        );
        let r = raw(
            &server,
            Method::GET,
            "/api/v1/barcode.svg?symbology=code128&code=PU-0007%20A&text=false",
            &server.owner,
            None,
        )
        .await;
        assert!(
            !r.text().contains("<text"),
            "{engine}: text=false still prints text"
        );
        let raster = scan::rasterise_svg(&r.text(), 300.0);
        assert_eq!(
            scan::decode(&raster, BarcodeFormat::CODE_128).as_deref(),
            Ok("PU-0007 A"),
            "{engine}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn label_pdfs_scan_back() {
    for server in common::servers("labels::label_pdfs_scan_back").await {
        let engine = server.engine;
        seed(&server).await;
        template(
            &server,
            json!({"code": "a4", "name": "A4", "size": "a4-3x8", "symbology": "ean13",
            "fields": ["name", "sku_code", "barcode_text"]}),
        )
        .await;
        template(
            &server,
            json!({"code": "roll", "name": "roll", "size": "roll-40x20"}),
        )
        .await;

        // 24 cells a sheet; skip 20 so the labels run onto a second sheet.
        let body = json!({"template": "a4", "skip": 20, "items": [
            {"sku": "TS-01-M", "copies": 3}, {"sku": "TS-04", "copies": 2}, {"sku": "TS-02"}]});
        let r = raw(
            &server,
            Method::POST,
            "/api/v1/labels.pdf",
            &server.owner,
            Some(body.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text());
        assert_eq!(r.content_type, "application/pdf", "{engine}");
        assert!(r.bytes.starts_with(b"%PDF-"), "{engine}");
        // With an Idempotency-Key, still a PDF (the key is ignored here).
        let keyed = server
            .http
            .post(server.url("/api/v1/labels.pdf"))
            .bearer_auth(&server.owner)
            .header("Idempotency-Key", "labels-1")
            .json(&body);
        for _ in 0..2 {
            let again = keyed.try_clone().unwrap().send().await.unwrap();
            assert_eq!(
                again.headers()["content-type"],
                "application/pdf",
                "{engine}"
            );
            assert!(
                again.headers().get("idempotent-replayed").is_none(),
                "{engine}"
            );
            assert_eq!(
                again.bytes().await.unwrap().to_vec(),
                r.bytes,
                "{engine}: not reproducible"
            );
        }
        if !scan::have_poppler("labels::label_pdfs_scan_back") {
            server.stop().await;
            continue;
        }
        let expected = [
            (BarcodeFormat::EAN_13, "8801234567893"),
            (BarcodeFormat::EAN_13, "8801234567893"),
            (BarcodeFormat::EAN_13, "8801234567893"),
            (BarcodeFormat::EAN_13, "4006381333931"),
            (BarcodeFormat::EAN_13, "4006381333931"),
            // No barcode: its code in Code 128.
            (BarcodeFormat::CODE_128, "TS-02"),
        ];
        let dpi = 300;
        let pages = scan::rasterise_pdf(&r.bytes, dpi);
        assert_eq!(pages.len(), 2, "{engine}");
        let sheet = jaego_core::label::LabelSize::A4Sheet3x8.sheet();
        for (i, (format, want)) in expected.iter().enumerate() {
            let cell = 20 + i as u32;
            let (x, y) = sheet.cell_origin_mm(cell);
            let image = pages[(cell / 24) as usize].crop_mm(
                dpi as f32,
                x,
                y,
                sheet.label_width_mm,
                sheet.label_height_mm,
            );
            assert_eq!(
                scan::decode(&image, *format).as_deref(),
                Ok(*want),
                "{engine}: cell {cell}"
            );
        }
        for cell in 0..20 {
            let (x, y) = sheet.cell_origin_mm(cell);
            assert!(
                !pages[0].crop_mm(dpi as f32, x, y, 70.0, 37.0).has_ink(),
                "{engine}: cell {cell} printed"
            );
        }
        let text = scan::pdf_text(&r.bytes);
        for name in ["반팔 티셔츠 화이트 M", "모자", "청바지 슬림핏"] {
            assert!(text.contains(name), "{engine}: {name} not in {text}");
        }

        // Roll labels: one a page.
        let r = raw(&server, Method::POST, "/api/v1/labels.pdf", &server.owner,
            Some(json!({"template": "roll", "items": [{"sku": "TS-02", "copies": 2}, {"sku": "TS-04"}]}))).await;
        assert_eq!(r.status, StatusCode::OK, "{engine}: {}", r.text());
        let pages = scan::rasterise_pdf(&r.bytes, dpi);
        let scanned: Vec<_> = pages
            .iter()
            .map(|p| scan::decode(p, BarcodeFormat::CODE_128))
            .collect();
        assert_eq!(
            scanned,
            [
                Ok("TS-02".to_string()),
                Ok("TS-02".to_string()),
                Ok("4006381333931".to_string())
            ],
            "{engine}"
        );
        server.stop().await;
    }
}

#[test]
fn the_openapi_document_has_the_label_routes() {
    let doc = serde_json::to_value(jaego_server::openapi::document()).unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/label-templates", "post"),
        ("/api/v1/label-templates/{template}", "patch"),
        ("/api/v1/label-templates/{template}", "delete"),
        ("/api/v1/skus/{sku}/label.svg", "get"),
        ("/api/v1/labels.pdf", "post"),
        ("/api/v1/barcode.svg", "get"),
        ("/api/v1/barcodes/check", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    let ok = &paths["/api/v1/labels.pdf"]["post"]["responses"]["200"]["content"];
    assert!(ok["application/pdf"].is_object(), "{ok}");
    let ok = &paths["/api/v1/skus/{sku}/label.svg"]["get"]["responses"]["200"]["content"];
    assert!(ok["image/svg+xml"].is_object(), "{ok}");
}
