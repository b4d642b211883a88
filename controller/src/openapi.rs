//! The OpenAPI 3.1 document of the API, written by hand (served at `/api/v1/openapi.json`).
//! A test checks that every route of the router is described here.

use serde_json::{Value, json};

fn crud(tag: &str, schema: &str, plural: &str) -> (Value, Value) {
    let r = |s: &str| json!({"$ref": format!("#/components/schemas/{s}")});
    let body = json!({"required": true, "content": {"application/json": {"schema": r(schema)}}});
    let one = json!({"description": "the object", "content": {"application/json": {"schema": r(schema)}}});
    let err = |d: &str| json!({"description": d, "content": {"application/json": {"schema": r("Error")}}});
    let collection = json!({
        "get": {"tags": [tag], "summary": format!("List {plural}"), "operationId": format!("list_{tag}"),
            "responses": {"200": {"description": "all", "content": {"application/json": {"schema": {"type": "array", "items": r(schema)}}}}}},
        "post": {"tags": [tag], "summary": format!("Create one of the {plural}"), "operationId": format!("create_{tag}"),
            "requestBody": body,
            "responses": {"201": one, "400": err("malformed JSON; `field` is the path"), "409": err("exists"),
                "422": err("invalid value; `field` names it"), "401": err("no or wrong bearer token")}}
    });
    let name =
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]);
    let item = json!({
        "parameters": name,
        "get": {"tags": [tag], "operationId": format!("get_{tag}"), "responses": {"200": one, "404": err("not found")}},
        "put": {"tags": [tag], "operationId": format!("put_{tag}"), "requestBody": body,
            "responses": {"200": one, "400": err("malformed JSON"), "422": err("invalid value")}},
        "delete": {"tags": [tag], "operationId": format!("delete_{tag}"),
            "responses": {"204": {"description": "deleted"}, "404": err("not found"), "409": err("in use")}}
    });
    (collection, item)
}

/// The document.
pub fn document() -> Value {
    let (g, gi) = crud("se_groups", "SeGroup", "SE groups");
    let (v, vi) = crud("virtual_services", "VirtualService", "virtual services");
    let (p, pi) = crud("ipam_pools", "IpamPool", "IPAM pools");
    let (z, zi) = crud("dns_zones", "DnsZone", "DNS zones");
    let r = |s: &str| json!({"$ref": format!("#/components/schemas/{s}")});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "strato controller", "version": env!("CARGO_PKG_VERSION"),
            "description": "Desired state (SE groups, virtual services, IPAM pools, DNS zones), status, and the SE agent protocol."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/se-groups": g, "/api/v1/se-groups/{name}": gi,
            "/api/v1/virtual-services": v, "/api/v1/virtual-services/{name}": vi,
            "/api/v1/ipam-pools": p, "/api/v1/ipam-pools/{name}": pi,
            "/api/v1/dns-zones": z, "/api/v1/dns-zones/{name}": zi,
            "/api/v1/status": {"get": {"tags": ["status"], "operationId": "status",
                "responses": {"200": {"description": "SEs, VIPs, health, current and desired capacity, last errors",
                    "content": {"application/json": {"schema": r("Status")}}}}}},
            "/api/v1/orphans": {"get": {"tags": ["status"], "operationId": "list_orphans",
                "summary": "SE VMs of this controller's owner whose SE group no longer exists here (reported, not deleted).",
                "responses": {"200": {"description": "the orphaned SEs",
                    "content": {"application/json": {"schema": {"type": "array", "items": r("Orphan")}}}}}}},
            "/api/v1/orphans/sweep": {"post": {"tags": ["status"], "operationId": "sweep_orphans",
                "summary": "Deletes the orphaned SEs and returns what was deleted.",
                "responses": {"200": {"description": "the deleted SEs",
                    "content": {"application/json": {"schema": {"type": "array", "items": r("Orphan")}}}}}}},
            "/api/v1/engines/{id}/config": {"get": {"tags": ["agent"], "operationId": "engine_config",
                "summary": "Long poll: answers when the SE's configuration version differs from `after` (at once without `after`), 304 after the poll timeout.",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "after", "in": "query", "required": false, "schema": {"type": "integer", "format": "uint64"}}],
                "responses": {"200": {"description": "configuration", "content": {"application/json": {"schema": r("EngineConfig")}}},
                    "304": {"description": "unchanged"}, "404": {"description": "unknown SE"}}}},
            "/api/v1/engines/{id}/report": {"post": {"tags": ["agent"], "operationId": "engine_report",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/json": {"schema": r("EngineReport")}}},
                "responses": {"200": {"description": "accepted"}, "400": {"description": "malformed"}, "404": {"description": "unknown SE"}}}},
            "/api/v1/openapi.json": {"get": {"security": [], "operationId": "openapi", "responses": {"200": {"description": "this document"}}}},
            "/metrics": {"get": {"security": [], "operationId": "metrics", "responses": {"200": {"description": "Prometheus text format"}}}},
            "/healthz": {"get": {"security": [], "operationId": "healthz", "responses": {"200": {"description": "ok"}}}}
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "message"], "properties": {
                    "error": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}},
                "SeGroup": {"type": "object", "required": ["name", "cloud", "template", "max_ses", "capacity"], "properties": {
                    "name": {"type": "string", "maxLength": 40, "pattern": "^[a-z]([-a-z0-9]*[a-z0-9])?$"},
                    "cloud": {"type": "string", "description": "cloud profile name"},
                    "template": {"type": "object", "required": ["size", "image"], "properties": {
                        "size": {"type": "string", "examples": ["2x4g", "t3.micro"]},
                        "image": {"type": "string"}, "network": {"type": "string"}}},
                    "min_ses": {"type": "integer", "default": 1}, "max_ses": {"type": "integer"},
                    "capacity": {"type": "object", "required": ["rps", "connections"], "properties": {
                        "rps": {"type": "number"}, "connections": {"type": "integer"}}},
                    "ha": {"oneOf": [
                        {"type": "object", "properties": {"mode": {"const": "elastic"}, "buffer": {"type": "integer", "default": 0}}},
                        {"type": "object", "properties": {"mode": {"const": "active_standby"}}}]},
                    "placement": {"type": "object", "properties": {
                        "strategy": {"enum": ["spread", "pack"]}, "max_vs_per_se": {"type": "integer", "default": 0},
                        "se_per_host": {"type": "boolean", "default": false}, "rebalance": {"type": "boolean", "default": true}}},
                    "autoscale": {"type": "object", "properties": {
                        "target_utilisation": {"type": "number", "default": 0.6},
                        "tolerance": {"type": "number", "default": 0.1},
                        "scale_down_window": {"type": "string", "default": "5m"}}}}},
                "VirtualService": {"type": "object", "required": ["name", "fqdn", "ports", "se_group"], "properties": {
                    "name": {"type": "string"}, "fqdn": {"type": "string"},
                    "ports": {"type": "array", "items": {"type": "object", "required": ["port", "protocol"], "properties": {
                        "port": {"type": "integer"}, "protocol": {"enum": ["tcp", "udp", "http", "https"]}}}},
                    "members": {"type": "array", "items": {"type": "object", "required": ["address", "port"], "properties": {
                        "address": {"type": "string"}, "port": {"type": "integer"}, "weight": {"type": "integer", "default": 1}}}},
                    "se_group": {"type": "string"}, "min_ses": {"type": "integer", "default": 1},
                    "max_ses": {"type": "integer"}, "vip": {"type": "string", "description": "fixed VIP"}}},
                "IpamPool": {"type": "object", "required": ["name", "network", "cidr"], "properties": {
                    "name": {"type": "string"}, "network": {"type": "string"}, "cidr": {"type": "string"},
                    "reserved": {"type": "array", "items": {"type": "object", "properties": {
                        "start": {"type": "string"}, "end": {"type": "string"}}}}}},
                "DnsZone": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"}, "ttl": {"type": "integer", "default": 30}}},
                "EngineReport": {"type": "object", "required": ["rps", "connections", "health"], "properties": {
                    "rps": {"type": "number"}, "connections": {"type": "integer"},
                    "health": {"enum": ["up", "degraded", "down"]}, "config_version": {"type": "integer"},
                    "virtual_services": {"type": "object", "description": "load per virtual service",
                        "additionalProperties": {"type": "object", "required": ["rps"], "properties": {
                            "rps": {"type": "number"}, "connections": {"type": "integer"}}}}}},
                "EngineConfig": {"type": "object", "properties": {
                    "engine": {"type": "string"}, "group": {"type": "string"}, "version": {"type": "integer"},
                    "report_interval_secs": {"type": "integer"},
                    "virtual_services": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "fqdn": {"type": "string"}, "vip": {"type": ["string", "null"]},
                        "configure_vip": {"type": "boolean"}, "role": {"enum": ["primary", "secondary", "standby"]},
                        "serving": {"type": "integer"}}}}}},
                "Orphan": {"type": "object", "properties": {
                    "cloud": {"type": "string"}, "vm_id": {"type": "string"}, "name": {"type": "string"},
                    "group": {"type": ["string", "null"]}, "created_at": {"type": "string"}}},
                "Status": {"type": "object", "properties": {
                    "groups": {"type": "array", "items": {"type": "object"}},
                    "virtual_services": {"type": "array", "items": {"type": "object"}}}}
            }
        }
    })
}
