"""The OpenAPI 3.1 document of /api/v1/, served at /api/v1/openapi.json. Written by hand beside
the views (bridge/web/api.py): tests/test_api.py validates it and drives every endpoint through
it against a running service, checking each request and answer, so it cannot drift unnoticed."""
from __future__ import annotations

from typing import Any

from .api import API_MAX_BODY, CHAIN_MAX, IDEMPOTENCY_KEY_MAX, PAGE_DEFAULT, PAGE_MAX, STATUSES

_TIME = {"type": ["string", "null"], "format": "date-time"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _message(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


_COMMON = {"401": _error("no key, a malformed header, an unknown or revoked key, or a key in the URL"),
           "403": _error("the key lacks the scope (send for POST and DELETE, read for GET)"),
           "429": {**_error("over the key's rate limit"),
                   "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}},
           "503": _error("the database cannot be written now; nothing was accepted")}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


def document(server: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "woo-bridge send API", "version": "1",
                 "description": "Send SMS and chat messages through the shop's channels (with their pacing and"
                                " fallback chains) and read what became of them. Keys are made in the admin"
                                " (API page). Every error is {\"error\": code, \"reason\": English sentence}."},
        "servers": [{"url": f"{server.rstrip('/')}/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/messages": {
                "post": {
                    "operationId": "createMessage", "summary": "Queue a message (scope send)",
                    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                    "description": "the same key with the same body answers the same message (200)"
                                                   " and never makes a second one; with another body: 409",
                                    "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX}}],
                    "requestBody": {"required": True, "content": _message("NewMessage")},
                    "responses": {"201": {"description": "queued (committed before this answer)",
                                          "headers": {"Location": {"schema": {"type": "string"}}},
                                          "content": _message("Message")},
                                  "200": {"description": "a repeat of an Idempotency-Key: the message it made",
                                          "content": _message("Message")},
                                  "400": _error("not JSON, not an object, a bad Idempotency-Key"),
                                  "409": _error("the Idempotency-Key was used with another body"),
                                  "413": _error(f"body over {API_MAX_BODY} bytes (with or without Content-Length)"),
                                  "415": _error("not application/json"),
                                  "422": _error("a field is wrong (the answer names it in `field`); an owner or"
                                                " turned-off template, a template-only channel without its template"),
                                  **_COMMON}},
                "get": {
                    "operationId": "listMessages", "summary": "Messages made through the API, oldest first (scope read)",
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"type": "string"},
                         "description": f"one or more of {', '.join(STATUSES)}, comma-separated"},
                        {"name": "phone", "in": "query", "schema": {"type": "string"}},
                        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "until", "in": "query", "schema": {"type": "string", "format": "date-time"}},
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT}},
                        {"name": "after", "in": "query", "schema": {"type": "string"},
                         "description": "the `next` of the previous page"}],
                    "responses": {"200": {"description": "a page", "content": _message("MessagePage")},
                                  "400": _error("an unknown parameter or a cursor this API did not give"),
                                  "422": _error("a parameter is wrong"), **_COMMON}},
            },
            "/messages/{id}": {
                "get": {"operationId": "getMessage", "summary": "One message with its legs and reports (scope read)",
                        "parameters": [_ID],
                        "responses": {"200": {"description": "the message", "content": _message("MessageDetail")},
                                      "404": _error("no such message made through the API"), **_COMMON}},
                "delete": {"operationId": "cancelMessage", "summary": "Cancel a waiting message (scope send)",
                           "parameters": [_ID],
                           "responses": {"200": {"description": "cancelled", "content": _message("MessageDetail")},
                                         "404": _error("no such message made through the API with this key"),
                                         "409": _error("already sent, being sent right now (being_sent), or"
                                                       " claimed by a sender that recorded no outcome (maybe_sent)"),
                                         **_COMMON}},
            },
            "/openapi.json": {
                "get": {"operationId": "openapi", "summary": "This document", "security": [],
                        "responses": {"200": {"description": "OpenAPI 3.1",
                                              "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Authorization: Bearer wb_live_…; never in the URL"}},
            "schemas": {
                "Error": {"type": "object", "required": ["error", "reason"],
                          "properties": {"error": {"type": "string"}, "reason": {"type": "string"},
                                         "field": {"type": "string"}, "message": {"type": "string"},
                                         "status": {"type": "string"}, "retry_after": {"type": "integer"}}},
                "NewMessage": {
                    "type": "object", "required": ["to"], "additionalProperties": False,
                    "properties": {
                        "to": {"oneOf": [
                            {"type": "string", "maxLength": 40,
                             "description": "a phone number (0912345678, +84912345678) or \"#1234\": that order's"
                                            " customer"},
                            {"type": "object", "required": ["order"], "additionalProperties": False,
                             "properties": {"order": {"type": ["integer", "string"]}}}]},
                        "text": {"type": "string", "minLength": 1, "maxLength": 2000},
                        "template": {"type": "string", "description": "a customer rule's name (mappings/*.yaml), sent as"
                                                                    " that rule sends it: encoding, urgency, Zalo"
                                                                    " template, fallback time"},
                        "variables": {"type": "object",
                                      "additionalProperties": {"type": ["string", "number", "boolean"]}},
                        "channel": {"oneOf": [{"type": "string"},
                                              {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                               "maxItems": CHAIN_MAX}],
                                    "description": "configured channels, tried in order; default: the first SMS one"},
                        "unicode": {"type": "boolean", "default": True},
                        "send_at": {"type": "string", "format": "date-time",
                                    "description": "with an offset; at most API_MAX_SCHEDULE_DAYS ahead"}}},
                "Message": {
                    "type": "object",
                    "required": ["id", "status", "to", "channel", "text", "segments", "created_at"],
                    "properties": {
                        "id": {"type": "string"}, "status": {"type": "string", "enum": list(STATUSES)},
                        "reason": {"type": ["string", "null"]},
                        "to": {"type": ["string", "null"], "description": "E.164; null to a key without read for a"
                                                                          " message addressed by order number"},
                        "order": {"type": ["string", "null"]},
                        "channel": {"type": "array", "items": {"type": "string"}},
                        "text": {"type": ["string", "null"],
                                 "description": "null to a key without the read scope"},
                        "encoding": {"type": ["string", "null"]},
                        "segments": {"type": "integer"},
                        "cost_estimate": {"oneOf": [{"type": "null"}, {
                            "type": "object", "properties": {"vnd": {"type": "integer"}, "channel": {"type": "string"}}}]},
                        "created_at": _TIME,
                        "send_at": {**_TIME, "description": "when it is due; null for a message sent at once"}, "sent_at": _TIME, "delivered_at": _TIME}},
                "MessageDetail": {"allOf": [{"$ref": "#/components/schemas/Message"}, {
                    "type": "object", "required": ["legs", "events"],
                    "properties": {
                        "legs": {"type": "array", "items": {"type": "object", "properties": {
                            "channel": {"type": "string"}, "outcome": {"type": ["string", "null"]},
                            "provider_id": {"type": ["string", "null"]}, "started_at": _TIME, "ended_at": _TIME,
                            "reason": {"type": ["string", "null"]}}}},
                        "events": {"type": "array", "items": {"type": "object", "properties": {
                            "at": _TIME, "source": {"type": ["string", "null"]}, "event": {"type": "string"}}}}}}]},
                "MessagePage": {"type": "object", "required": ["messages", "next", "more"],
                                "properties": {"messages": {"type": "array",
                                                            "items": {"$ref": "#/components/schemas/Message"}},
                                               "next": {"type": "string"}, "more": {"type": "boolean"}}},
            },
        },
    }
