//! The OpenAPI 3.1 document of the API, written by hand (served at `/api/v1/openapi.json`).
//! A test checks that every route of the router is described here, and the controller's API
//! was fuzzed against it with schemathesis: the schemas say what the model's deserialisation
//! and validation really accept (unknown fields refused, ranges, patterns), so a schema-valid
//! body is refused only for a reason between fields or against the stored state (422, 409).

use serde_json::{Value, json};

fn r(s: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{s}")})
}

fn resp(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// An error answer.
fn err(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": r("Error")}}})
}

/// The error answers operations refer to.
fn responses() -> Value {
    json!({
        "BadRequest": err("the body is not JSON of the right shape; `field` is the JSON path"),
        "Invalid": err("a value the model refuses (also between fields or against the stored state); `field` names it"),
        "Unauthorized": err("no or wrong bearer token"),
        "Forbidden": err("a valid credential, but not for this path: the admin token or another SE's credential on an SE's agent paths"),
        "NotFound": err("not found"),
        "Conflict": err("exists already (POST), or in use (DELETE)"),
        "Unavailable": err("the cloud could not be read")
    })
}

fn u32_(min: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": u32::MAX})
}

fn u64_(min: u64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": u64::MAX})
}

/// A label (`strato_core::validate_label`): lowercase letter first, `a-z0-9-`, no `-` at the end.
fn label(max: usize) -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": max,
        "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$"})
}

/// A DNS name (trailing dots allowed and ignored; `model::validate_fqdn`).
fn fqdn() -> Value {
    const L: &str = "[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?";
    json!({"type": "string", "maxLength": 253, "pattern": format!("^{L}(\\.{L})*\\.*$")})
}

/// A string that is not empty or blank.
fn non_blank() -> Value {
    json!({"type": "string", "pattern": "\\S"})
}

fn nullable(t: &str) -> Value {
    json!({"type": [t, "null"]})
}

fn ip() -> Value {
    json!({"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]})
}

fn ipv4() -> Value {
    json!({"type": "string", "format": "ipv4"})
}

fn port() -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": u16::MAX})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required,
        "properties": properties})
}

/// `strato_core::Size`: `VCPUSxMEMORY` (memory in `g`/`gib`/`m`/`mib`), a cloud type name
/// (`t3.micro`), or `native:NAME`.
fn size() -> Value {
    let shape = "0*[1-9][0-9]{0,8}[xX]\\+?(0*[1-9][0-9]{0,11}[gG]([iI][bB])?|0*[1-9][0-9]{0,17}[mM]([iI][bB])?)";
    let native = "native:.*\\S|[^\\s0-9xX][^\\sxX]*|[^\\sxX]*[^\\s0-9xX][^\\sxX]*[xX]\\S*|[xX]\\S*";
    json!({"type": "string", "pattern": format!("^\\s*({shape}|{native})\\s*$"),
        "examples": ["2x4g", "t3.micro", "native:m5.large"]})
}

/// A `humantime` duration (`5m`, `1h 30m`, `90s`).
fn duration() -> Value {
    let unit = "nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y";
    json!({"type": "string",
        "pattern": format!("^\\s*(0|([0-9]{{1,9}}(\\.[0-9]{{1,9}})?\\s*({unit})\\s*)+)$")})
}

struct Resource<'a> {
    tag: &'a str,
    schema: &'a str,
    plural: &'a str,
    /// DELETE can be refused while something uses it (409).
    delete_conflict: bool,
}

fn crud(res: &Resource<'_>) -> (Value, Value) {
    let Resource {
        tag,
        schema,
        plural,
        delete_conflict,
    } = *res;
    let body = json!({"required": true, "content": {"application/json": {"schema": r(schema)}}});
    let one =
        |d: &str| json!({"description": d, "content": {"application/json": {"schema": r(schema)}}});
    let collection = json!({
        "get": {"tags": [tag], "summary": format!("List {plural}"), "operationId": format!("list_{tag}"),
            "responses": {"200": {"description": "all", "content": {"application/json": {"schema": {"type": "array", "items": r(schema)}}}},
                "401": resp("Unauthorized")}},
        "post": {"tags": [tag], "summary": format!("Create one of the {plural}"), "operationId": format!("create_{tag}"),
            "requestBody": body,
            "responses": {"201": one("created"), "400": resp("BadRequest"), "401": resp("Unauthorized"),
                "409": resp("Conflict"), "422": resp("Invalid")}}
    });
    let name =
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let mut delete = json!({"204": {"description": "deleted"}, "401": resp("Unauthorized"),
        "404": resp("NotFound")});
    if delete_conflict {
        delete["409"] = resp("Conflict");
    }
    let item = json!({
        "parameters": name,
        "get": {"tags": [tag], "operationId": format!("get_{tag}"),
            "responses": {"200": one("the object"), "401": resp("Unauthorized"), "404": resp("NotFound")}},
        "put": {"tags": [tag], "operationId": format!("put_{tag}"),
            "summary": format!("Create or replace one of the {plural} (the body's name must be the path's)"),
            "requestBody": body,
            "responses": {"200": one("created or replaced"), "400": resp("BadRequest"),
                "401": resp("Unauthorized"), "422": resp("Invalid")}},
        "delete": {"tags": [tag], "operationId": format!("delete_{tag}"), "responses": delete}
    });
    (collection, item)
}

/// Only the SE's own credential opens its agent paths.
fn agent_security() -> Value {
    json!([{"se_credential": []}])
}

/// `GET {path}`: an SE agent's long poll of its configuration.
fn se_config(operation_id: &str) -> Value {
    json!({"get": {"tags": ["agent"], "operationId": operation_id, "security": agent_security(),
        "summary": "Long poll: answers when the SE's configuration version differs from `after` (at once without `after`), 304 after the poll timeout.",
        "parameters": [
            {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "after", "in": "query", "required": false, "schema": u64_(0)}],
        "responses": {"200": {"description": "configuration", "content": {"application/json": {"schema": r("SeConfig")}}},
            "304": {"description": "unchanged"}, "400": err("`after` is not a version; `field` is `after`"),
            "401": resp("Unauthorized"), "403": resp("Forbidden"), "404": err("unknown SE")}}})
}

/// `POST {path}`: an SE agent's report.
fn se_report(operation_id: &str) -> Value {
    json!({"post": {"tags": ["agent"], "operationId": operation_id, "security": agent_security(),
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": r("SeReport")}}},
        "responses": {"200": {"description": "accepted", "content": {"application/json": {"schema":
                object(&["accepted", "report_interval_secs"], json!({
                    "accepted": {"const": true}, "report_interval_secs": u64_(0)}))}}},
            "400": resp("BadRequest"), "401": resp("Unauthorized"), "403": resp("Forbidden"),
            "404": err("unknown SE"), "422": resp("Invalid")}}})
}

/// `POST /api/v1/ses/{id}/credentials`: an SE agent's credential, for the admin to hand over.
fn se_credentials() -> Value {
    json!({"post": {"tags": ["agent"], "operationId": "se_credentials",
        "summary": "Hands out the SE agent's credential: the one minted with the SE, once; after that a new one, which revokes the previous. The answer is its only copy (`Cache-Control: no-store`); the controller keeps only its SHA-256.",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the credential, for this SE's agent paths only",
                "content": {"application/json": {"schema": object(&["se", "credential"], json!({
                    "se": {"type": "string"},
                    "credential": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}))}}},
            "401": resp("Unauthorized"), "404": err("unknown SE")}}})
}

/// The old path of an operation, kept for one release: marked deprecated, and every answer
/// carries `Deprecation: true` and a `Link` to `successor`.
fn deprecated(mut item: Value, successor: &str) -> Value {
    let headers = json!({
        "Deprecation": {"description": "this path is deprecated", "schema": {"const": "true"}},
        "Link": {"description": format!("`<{successor}>; rel=\"successor-version\"` with the `id` filled in"),
            "schema": {"type": "string"}}});
    for op in item
        .as_object_mut()
        .into_iter()
        .flat_map(|o| o.values_mut())
    {
        op["deprecated"] = json!(true);
        op["description"] = json!(format!(
            "Deprecated: the old name of `{successor}`, answered the same for one release."
        ));
        for r in op["responses"]
            .as_object_mut()
            .into_iter()
            .flat_map(|o| o.values_mut())
        {
            // A response given by reference cannot take headers beside it: inline it.
            if let Some(name) = r["$ref"].as_str().and_then(|s| s.rsplit('/').next()) {
                *r = responses()[name].clone();
            }
            r["headers"] = headers.clone();
        }
    }
    item
}

/// The document, with `SeGroup.cloud` limited to the configured cloud profiles, and
/// `/metrics` secured when `metrics_auth` (the API's [`crate::api::ApiOptions::metrics_auth`]
/// with a token).
pub fn document_for<'a>(clouds: impl IntoIterator<Item = &'a str>, metrics_auth: bool) -> Value {
    let mut doc = document();
    let clouds: Vec<&str> = clouds.into_iter().collect();
    doc["components"]["schemas"]["SeGroup"]["properties"]["cloud"]["enum"] = json!(clouds);
    if metrics_auth {
        let m = &mut doc["paths"]["/metrics"]["get"];
        m["security"] = json!([{"bearer": []}]);
        m["responses"]["401"] = resp("Unauthorized");
    }
    doc
}

/// The document.
pub fn document() -> Value {
    let mut doc = document_core();
    // The analytics paths live with the analytics.
    for (section, extra) in [
        ("paths", crate::analytics::openapi::paths()),
        ("schemas", crate::analytics::openapi::schemas()),
    ] {
        let target = if section == "paths" {
            &mut doc["paths"]
        } else {
            &mut doc["components"]["schemas"]
        };
        if let (Some(t), Value::Object(e)) = (target.as_object_mut(), extra) {
            t.extend(e);
        }
    }
    doc["paths"]["/api/v1/clouds"] = crate::console::clouds::openapi_path();
    doc
}

fn document_core() -> Value {
    let res = |tag, schema, plural, delete_conflict| Resource {
        tag,
        schema,
        plural,
        delete_conflict,
    };
    let (g, gi) = crud(&res("se_groups", "SeGroup", "SE groups", true));
    let (v, vi) = crud(&res(
        "virtual_services",
        "VirtualService",
        "virtual services",
        false,
    ));
    let (p, pi) = crud(&res("ipam_pools", "IpamPool", "IPAM pools", true));
    let (z, zi) = crud(&res("dns_zones", "DnsZone", "DNS zones", false));
    json!({
        "openapi": "3.1.0",
        "info": {"title": "strato controller", "version": env!("CARGO_PKG_VERSION"),
            "description": "Desired state (SE groups, virtual services, IPAM pools, DNS zones), status, and the SE agent protocol. Paths are versioned by their `/api/v1` prefix; a renamed path keeps its old name for one release, marked `deprecated`, and its answers carry `Deprecation: true` and a `Link` to the new path (`rel=\"successor-version\"`). Every operation needs the admin token (`bearer`) except this document, `/healthz`, `/metrics` when the configuration opens it, and an SE's agent paths, which take only that SE's own credential (`se_credential`): there the admin token and another SE's credential are refused with 403."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/se-groups": g, "/api/v1/se-groups/{name}": gi,
            "/api/v1/virtual-services": v, "/api/v1/virtual-services/{name}": vi,
            "/api/v1/ipam-pools": p, "/api/v1/ipam-pools/{name}": pi,
            "/api/v1/dns-zones": z, "/api/v1/dns-zones/{name}": zi,
            "/api/v1/status": {"get": {"tags": ["status"], "operationId": "status",
                "responses": {"200": {"description": "SEs, VIPs, health, current and desired capacity, last errors",
                    "content": {"application/json": {"schema": r("Status")}}},
                    "401": resp("Unauthorized")}}},
            "/api/v1/orphans": {"get": {"tags": ["status"], "operationId": "list_orphans",
                "summary": "SE VMs of this controller's owner whose SE group no longer exists here (reported, not deleted).",
                "responses": {"200": {"description": "the orphaned SEs",
                    "content": {"application/json": {"schema": {"type": "array", "items": r("Orphan")}}}},
                    "401": resp("Unauthorized"), "503": resp("Unavailable")}}},
            "/api/v1/orphans/sweep": {"post": {"tags": ["status"], "operationId": "sweep_orphans",
                "summary": "Deletes the orphaned SEs and returns what was deleted.",
                "responses": {"200": {"description": "the deleted SEs",
                    "content": {"application/json": {"schema": {"type": "array", "items": r("Orphan")}}}},
                    "401": resp("Unauthorized"), "503": resp("Unavailable")}}},
            "/api/v1/ses/{id}/config": se_config("se_config"),
            "/api/v1/ses/{id}/report": se_report("se_report"),
            "/api/v1/ses/{id}/credentials": se_credentials(),
            "/api/v1/engines/{id}/config": deprecated(se_config("engine_config"), "/api/v1/ses/{id}/config"),
            "/api/v1/engines/{id}/report": deprecated(se_report("engine_report"), "/api/v1/ses/{id}/report"),
            "/api/v1/openapi.json": {"get": {"security": [], "operationId": "openapi",
                "responses": {"200": {"description": "this document", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/metrics": {"get": {"security": [], "operationId": "metrics",
                "description": "Public only when the configuration says `metrics_auth = false` (or there is no token); otherwise it needs the admin token.",
                "responses": {"200": {"description": "Prometheus text format", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/healthz": {"get": {"security": [], "operationId": "healthz",
                "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"const": "ok"}}}}}}}
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the admin token (`token` in the `[controller]` section)"},
                "se_credential": {"type": "http", "scheme": "bearer", "description": "an SE agent's own credential, valid only on that SE's agent paths (see `POST /api/v1/ses/{id}/credentials`); never the admin token"}},
            "responses": responses(),
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
                "SeGroup": schema_se_group(),
                "VirtualService": schema_virtual_service(),
                "IpamPool": schema_ipam_pool(),
                "DnsZone": schema_dns_zone(),
                "SeReport": schema_se_report(),
                "SeConfig": schema_se_config(),
                "Orphan": schema_orphan(),
                "Status": schema_status()
            }
        }
    })
}

fn schema_se_group() -> Value {
    let mut g = object(
        &["name", "cloud", "template", "max_ses", "capacity"],
        json!({
            "name": label(crate::model::MAX_SE_GROUP_NAME_LEN),
            "cloud": {"type": "string", "description": "a configured cloud profile (it cannot change once the group exists)"},
            "template": object(&["size", "image"], json!({
                "size": size(), "image": non_blank(), "network": {"anyOf": [non_blank(), {"type": "null"}], "description": "the cloud's default network when absent or null"}})),
            "min_ses": {"allOf": [u32_(0)], "default": 1, "description": "at most max_ses"},
            "max_ses": {"allOf": [u32_(1)], "description": "at least 2 with active_standby, above ha.buffer"},
            "capacity": object(&["rps", "connections"], json!({
                "rps": {"type": "number", "exclusiveMinimum": 0}, "connections": u64_(1)})),
            "ha": {"oneOf": [
                object(&["mode"], json!({"mode": {"const": "elastic"}, "buffer": {"allOf": [u32_(0)], "default": 0}})),
                object(&["mode"], json!({"mode": {"const": "active_standby"}}))]},
            "placement": object(&[], json!({
                "strategy": {"enum": ["spread", "pack"], "default": "spread"},
                "max_vs_per_se": {"allOf": [u32_(0)], "default": 0},
                "se_per_host": {"type": "boolean", "default": false, "description": "needs a cloud that shows hosts"},
                "rebalance": {"type": "boolean", "default": true}})),
            "autoscale": object(&[], json!({
                "target_utilisation": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.6},
                "tolerance": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.1},
                "scale_down_window": {"allOf": [duration()], "default": "5m"},
                "predictive": object(&[], json!({
                    "forecast": object(&[], json!({
                        "bucket_secs": {"type": "integer", "minimum": 60, "maximum": 3600, "default": 900},
                        "days": {"type": "integer", "minimum": 1, "default": 14},
                        "weeks": {"type": "integer", "minimum": 0, "default": 4},
                        "quantile": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
                        "margin": {"type": "number", "minimum": 0, "default": 0.2},
                        "min_samples": {"type": "integer", "minimum": 1, "default": 2},
                        "level_limit": {"type": "number", "minimum": 1, "default": 1.5}})),
                    "reactive_target": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "default": 0.9},
                    "lead_margin": {"allOf": [duration()], "default": "2m"}}))})),
            "max_unavailable": {"allOf": [u32_(1)], "default": 1,
                "description": "the disruption budget: most SEs drained or replaced at a time (failures, hosts not ready, upgrades and scale-in alike)"},
            "max_unhealthy": {"anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": "^\\s*(100(\\.0+)?|[0-9]{1,2}(\\.[0-9]+)?)\\s*%\\s*$"}],
                "default": "40%",
                "description": "remediation stops while more than this share of the group (a percentage or a fraction) looks unhealthy at once; one unhealthy SE is always remediated"},
            "networks": {"type": "array", "description": "networks its SEs may join besides the template's, for the virtual services on them",
                "items": object(&["network"], json!({
                    "network": {"allOf": [non_blank()], "description": "the network's cloud id or name, and the key services and IPAM pools name it by; listed once"},
                    "create": {"type": "boolean", "default": false, "description": "create it (named `network`) when the cloud has none of that id or name"},
                    "cidr": {"type": "string", "description": "address range of a network strato creates (AWS needs one)"}}))}}),
    );
    // One active and one standby SE need room for two.
    g["if"] = json!({"required": ["ha"], "properties": {"ha": {"required": ["mode"],
        "properties": {"mode": {"const": "active_standby"}}}}});
    g["then"] = json!({"properties": {"max_ses": {"minimum": 2}}});
    g
}

fn schema_virtual_service() -> Value {
    let servers = || {
        json!({"type": "array", "items": object(&["address", "port"], json!({
            "address": ip(), "port": port(), "weight": {"allOf": [u32_(0)], "default": 1}}))})
    };
    let mut members = servers();
    members["deprecated"] = json!(true);
    members["description"] = json!("the old name of `servers`, read for one release (never both)");
    let mut v = object(
        &["name", "fqdn", "ports", "se_group"],
        json!({
            "name": label(strato_core::MAX_NAME_LEN),
            "fqdn": {"allOf": [fqdn()], "description": "not used by another virtual service"},
            "ports": {"type": "array", "minItems": 1, "description": "a port appears once per transport (UDP, or TCP for tcp/http/https)",
                "items": object(&["port", "protocol"], json!({
                    "port": port(), "protocol": {"enum": ["tcp", "udp", "http", "https"]}}))},
            "servers": {"allOf": [servers()], "description": "backend servers"},
            "members": members,
            "se_group": {"allOf": [label(crate::model::MAX_SE_GROUP_NAME_LEN)], "description": "an existing SE group"},
            "min_ses": {"allOf": [u32_(1)], "default": 1, "description": "at most max_ses and the group's max_ses"},
            "max_ses": {"allOf": [u32_(1)], "default": u32::MAX},
            "vip": {"anyOf": [ip(), {"type": "null"}], "description": "a fixed VIP (none when absent or null), not used by another service nor reserved in a pool"},
            "network": {"allOf": [non_blank()], "description": "the network of its VIP, one its SE group lists in `networks` (absent: the group's template network)"},
            "server_networks": {"type": "array", "items": {"type": "string"}, "description": "networks of its servers its SEs must join too, listed by its SE group"},
            "algorithm": {"enum": ["round_robin", "least_connections", "source_hash"], "default": "round_robin",
                "description": "how the servers share the load (the proxy's balance algorithm)"}}),
    );
    v["not"] = json!({"required": ["servers", "members"]});
    v
}

fn schema_ipam_pool() -> Value {
    object(
        &["name", "network", "cidr"],
        json!({
            "name": label(strato_core::MAX_NAME_LEN),
            "network": {"allOf": [non_blank()], "description": "an SE group's template.network, or `default`; one pool per network"},
            "cidr": {"type": "string", "description": "IPv4, at most /30",
                "pattern": "^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}/([0-9]|[12][0-9]|30)$"},
            "reserved": {"type": "array", "description": "ranges inside the cidr, start <= end",
                "items": object(&["start", "end"], json!({"start": ipv4(), "end": ipv4()}))}}),
    )
}

fn schema_dns_zone() -> Value {
    object(
        &["name"],
        json!({
            "name": fqdn(), "ttl": {"allOf": [u32_(1)], "default": 30}}),
    )
}

fn schema_se_report() -> Value {
    object(
        &["rps", "connections", "health"],
        json!({
            "rps": {"type": "number", "minimum": 0}, "connections": u64_(0),
            "health": {"enum": ["up", "degraded", "down"]}, "config_version": u64_(0),
            "virtual_services": {"type": "object", "description": "load per virtual service",
                "additionalProperties": object(&["rps"], json!({
                    "rps": {"type": "number", "minimum": 0}, "connections": u64_(0)}))},
            "server_health": {"type": "object", "description": "per virtual service, its servers as the proxy's health checks see them",
                "additionalProperties": {"type": "array", "items": object(&["address", "port", "up"], json!({
                    "address": ip(), "port": port(), "up": {"type": "boolean"}}))}},
            "config_error": {"type": "string", "description": "why the newest configuration was not applied (the last good one serves)"}}),
    )
}

fn schema_se_config() -> Value {
    object(
        &[
            "se",
            "group",
            "version",
            "report_interval_secs",
            "virtual_services",
        ],
        json!({
            "se": {"type": "string", "description": "the SE's name, the `id` of its paths"},
            "group": {"type": "string"}, "version": u64_(0),
            "report_interval_secs": u64_(0),
            "virtual_services": {"type": "array", "items": object(
                &["name", "fqdn", "vip", "configure_vip", "role", "serving", "ports", "servers"], json!({
                "name": {"type": "string"}, "fqdn": {"type": "string"}, "vip": {"anyOf": [ip(), {"type": "null"}]},
                "configure_vip": {"type": "boolean"}, "role": {"enum": ["primary", "secondary", "standby"]},
                "serving": u32_(0),
                "ports": {"type": "array", "items": object(&["port", "protocol"], json!({
                    "port": port(), "protocol": {"enum": ["tcp", "udp", "http", "https"]}}))},
                "servers": {"type": "array", "items": object(&["address", "port", "weight"], json!({
                    "address": ip(), "port": port(), "weight": u32_(0)}))},
                "interface": {"description": "the SE interface carrying the VIP (absent: the primary)",
                    "allOf": [object(&["device_index"], json!({"device_index": u32_(0), "mac": {"type": "string"}}))]},
                "algorithm": {"enum": ["round_robin", "least_connections", "source_hash"], "default": "round_robin"}}))}}),
    )
}

fn schema_orphan() -> Value {
    object(
        &["cloud", "vm_id", "name", "group", "created_at"],
        json!({
            "cloud": {"type": "string"}, "vm_id": {"type": "string"}, "name": {"type": "string"},
            "group": nullable("string"), "created_at": {"type": "string"}}),
    )
}

fn schema_status() -> Value {
    object(
        &["groups", "virtual_services", "quarantined"],
        json!({
            "quarantined": {"type": "array", "items": object(&["key", "error"], json!({
                "key": {"type": "string"}, "error": {"type": "string"}}))},
            "groups": {"type": "array", "items": object(
                &["name", "exists", "desired", "healthy", "current", "recommendation", "upgrade",
                  "rebalanced", "held", "ses", "last_error", "failures"], json!({
                "name": {"type": "string"}, "exists": {"type": "boolean"},
                "desired": {"anyOf": [u32_(0), {"type": "null"}]},
                "healthy": {"type": "integer", "minimum": 0}, "current": {"type": "integer", "minimum": 0},
                "recommendation": {"anyOf": [{"type": "null"}, object(&["desired", "raw", "reason"], json!({
                    "desired": u32_(0), "raw": {"anyOf": [u32_(0), {"type": "null"}]}, "reason": {"type": "string"}}))]},
                "upgrade": nullable("string"), "rebalanced": nullable("string"),
                "held": nullable("string"),
                "ses": {"type": "array", "items": object(
                    &["name", "vm_id", "phase", "health", "current_template", "image", "host", "rps", "virtual_services",
                      "reason"], json!({
                    "name": {"type": "string"}, "vm_id": nullable("string"),
                    "phase": {"enum": ["creating", "active", "draining", "deleting"]},
                    "health": {"enum": ["creating", "booting", "healthy", "unhealthy", "unreachable"]},
                    "current_template": {"type": "boolean"}, "image": {"type": "string"},
                    "host": nullable("string"), "rps": nullable("number"),
                    "virtual_services": {"type": "integer", "minimum": 0},
                    "reason": nullable("string"),
                    "config_error": {"type": "string", "description": "why the SE's proxy refused its newest configuration (absent when none)"}}))},
                "last_error": nullable("string"), "failures": u32_(0)}))},
            "virtual_services": {"type": "array", "items": object(
                &["name", "fqdn", "se_group", "address", "bound_to", "placement", "desired_ses", "load",
                  "scaling", "dns", "vip_error", "last_error"], json!({
                "name": {"type": "string"}, "fqdn": {"type": "string"}, "se_group": {"type": "string"},
                "address": {"anyOf": [ip(), {"type": "null"}]}, "bound_to": nullable("string"),
                "placement": {"type": "array", "items": {"type": "string"}},
                "desired_ses": {"anyOf": [u32_(0), {"type": "null"}]},
                "load": {"anyOf": [{"type": "null"}, object(&["rps", "connections"], json!({
                    "rps": {"type": "number"}, "connections": u64_(0)}))]},
                "scaling": nullable("string"),
                "servers": {"type": "array", "description": "backend servers as the SEs' health checks see them", "items": object(
                    &["address", "port", "health", "down_on"], json!({
                    "address": ip(), "port": port(), "health": {"enum": ["up", "down", "mixed", "unknown"]},
                    "down_on": {"type": "array", "items": {"type": "string"}}}))},
                "dns": {"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "null"}]},
                "vip_error": nullable("string"), "last_error": nullable("string")}))}}),
    )
}
