//! `Template<T>`: a federated object's template, typed by the schema of the
//! target kind `T` but stored as plain JSON so that fields unknown to this
//! build of kfed survive a round trip.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::marker::PhantomData;

/// The template of a `Federated<Kind>`: an object of kind `T` without identity.
#[derive(Serialize, Deserialize)]
#[serde(transparent)]
pub struct Template<T> {
    pub value: Map<String, Value>,
    #[serde(skip)]
    target: PhantomData<fn() -> T>,
}

impl<T> Template<T> {
    pub fn new(value: Map<String, Value>) -> Self {
        Self {
            value,
            target: PhantomData,
        }
    }
}

// Manual impls: deriving would demand the same traits of `T`, which is only a type tag.
impl<T> Clone for Template<T> {
    fn clone(&self) -> Self {
        Self::new(self.value.clone())
    }
}
impl<T> std::fmt::Debug for Template<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}
impl<T> Default for Template<T> {
    fn default() -> Self {
        Self::new(Map::new())
    }
}
impl<T> PartialEq for Template<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: JsonSchema> JsonSchema for Template<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}Template", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = T::json_schema(generator);
        // k8s-openapi marks `metadata` required (it is not optional in Rust); KubeFed
        // templates routinely omit it, and identity comes from the federated object.
        schema.remove("required");
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            // The member cluster owns status, and identity comes from the federated object.
            for owned_elsewhere in ["status", "apiVersion", "kind"] {
                properties.remove(owned_elsewhere);
            }
        }
        schema.insert(
            "description".into(),
            "The object to create in each placed cluster. Fields unknown to this version of kfed are kept.".into(),
        );
        if let Some(object) = schema.as_object_mut() {
            let mut value = Value::Object(std::mem::take(object));
            preserve_unknown_fields(&mut value);
            if let Value::Object(marked) = value {
                *object = marked;
            }
        }
        schema
    }
}

/// Marks every object node of a schema with `x-kubernetes-preserve-unknown-fields`,
/// so the API server validates the fields it knows and keeps the ones it does not
/// (the flag is not inherited by nested nodes, hence the walk).
pub fn preserve_unknown_fields(schema: &mut Value) {
    let Some(node) = schema.as_object_mut() else { return };
    // A structural schema cannot express references or alternatives (k8s-openapi
    // uses them for recursive types such as JSONSchemaProps): accept anything there.
    if ["$ref", "oneOf", "anyOf", "allOf"]
        .iter()
        .any(|k| node.contains_key(*k))
    {
        let description = node.remove("description");
        node.clear();
        node.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
        if let Some(description) = description {
            node.insert("description".into(), description);
        }
        return;
    }
    // Maps (`additionalProperties`) keep every key already, and the API server
    // refuses the flag next to `additionalProperties`.
    let is_struct = node.contains_key("properties")
        || (node.get("type").and_then(Value::as_str) == Some("object") && !node.contains_key("additionalProperties"));
    if is_struct {
        node.insert("x-kubernetes-preserve-unknown-fields".into(), Value::Bool(true));
    }
    for (key, child) in node.iter_mut() {
        match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" => {
                if let Some(children) = child.as_object_mut() {
                    children.values_mut().for_each(preserve_unknown_fields);
                }
            }
            "items" | "additionalProperties" => preserve_unknown_fields(child),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_round_trip() {
        let input = json!({"metadata": {"labels": {"a": "b"}}, "spec": {"futureField": {"x": 1}}});
        let template: Template<k8s_openapi::api::apps::v1::Deployment> =
            serde_json::from_value(input.clone()).expect("valid template");
        assert_eq!(serde_json::to_value(&template).expect("serializes"), input);
    }

    #[test]
    fn preserve_unknown_fields_reaches_nested_objects() {
        let mut schema = json!({
            "type": "object",
            "properties": {
                "spec": {"type": "object", "properties": {"containers": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}}}}}},
                "data": {"type": "object", "additionalProperties": {"type": "string"}},
                "name": {"type": "string"}
            }
        });
        preserve_unknown_fields(&mut schema);
        assert_eq!(schema["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(
            schema["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert_eq!(
            schema["properties"]["spec"]["properties"]["containers"]["items"]["x-kubernetes-preserve-unknown-fields"],
            true
        );
        assert!(
            schema["properties"]["data"]
                .get("x-kubernetes-preserve-unknown-fields")
                .is_none()
        );
        assert!(
            schema["properties"]["name"]
                .get("x-kubernetes-preserve-unknown-fields")
                .is_none()
        );
    }

    #[test]
    fn references_become_open_nodes() {
        let mut schema = json!({
            "type": "object",
            "properties": {"schema": {"description": "d", "oneOf": [{"$ref": "#/x"}, {}]}, "$ref": {"type": "string"}}
        });
        preserve_unknown_fields(&mut schema);
        assert_eq!(
            schema["properties"]["schema"],
            json!({"description": "d", "x-kubernetes-preserve-unknown-fields": true})
        );
        assert_eq!(schema["properties"]["$ref"], json!({"type": "string"}));
    }
}
