//! Answers to `P.query.request` ([`crate::inspect`]): the coordinator handles them in the
//! same loop as the rest of its traffic — while a round waits for results, while a
//! fixed-rate tick waits for its time, and in [`Coordinator::serve_until`] — so an answer
//! always sees a world between merges of whole shards.
//!
//! A request that does not decode (missing headers, another protocol version, not a
//! [`QueryRequest`]) or that has no reply subject is counted in [`Coordinator::drops`] and
//! dropped.

use async_nats::Message;
use futures_util::{FutureExt, StreamExt};

use super::Coordinator;
use crate::codec::{decode_control, encode_control, DropReason};
use crate::protocol::{InstanceReport, QueryRequest, QueryResponse, SystemReport};

/// Rows a [`QueryRequest::Entities`] answer holds at most.
pub const MAX_ROWS: u32 = 1000;

/// Whether `wanted` names the column registered as `name` with type `type_name`: the
/// registered name, the type name, or the type name's last path segment.
fn names(wanted: &str, name: &str, type_name: &str) -> bool {
    let last = |s: &str| s.rsplit("::").next().unwrap_or(s).to_owned();
    wanted == name || wanted == type_name || wanted == last(type_name) || wanted == last(name)
}

impl Coordinator {
    /// Handles queries (and all other traffic) until `until`, for a coordinator between
    /// ticks.
    pub async fn serve_until(&mut self, until: tokio::time::Instant) {
        self.pump_until(until, None).await;
    }

    /// Queries answered so far.
    pub fn queries_answered(&self) -> u64 {
        self.queries_answered
    }

    /// Answers every query already received, without waiting.
    pub(super) async fn answer_ready_queries(&mut self) {
        while let Some(Some(msg)) = self.queries.next().now_or_never() {
            self.on_query(msg).await;
        }
    }

    /// Answers one `P.query.request` message on its reply subject.
    pub(super) async fn on_query(&mut self, msg: Message) {
        let Ok(request) =
            decode_control::<QueryRequest>(msg.headers.as_ref(), &msg.payload, &self.drops)
        else {
            return;
        };
        let Some(reply) = msg.reply else {
            self.drops.record(DropReason::MissingHeader);
            return;
        };
        let response = self.answer(&request);
        let encoded = encode_control(&response).and_then(|(headers, body)| {
            if body.len() + 1024 > self.client.server_info().max_payload {
                encode_control(&QueryResponse::Error(format!(
                    "the answer is {} bytes, over the server's max_payload; ask for fewer rows",
                    body.len()
                )))
            } else {
                Ok((headers, body))
            }
        });
        match encoded {
            Ok((headers, body)) => {
                if let Err(e) = self.client.publish_with_headers(reply, headers, body).await {
                    tracing::warn!(error = %e, "query answer not sent");
                } else {
                    self.queries_answered += 1;
                }
            }
            Err(e) => tracing::warn!(error = %e, "query answer not encoded"),
        }
    }

    /// The answer to `request` from the current world and instances.
    pub fn answer(&self, request: &QueryRequest) -> QueryResponse {
        match request {
            QueryRequest::Systems => self.systems_report(),
            QueryRequest::Entities { components, first } => {
                self.entities_report(components, (*first).min(MAX_ROWS))
            }
        }
    }

    fn systems_report(&self) -> QueryResponse {
        let last = self.last_report.as_ref();
        let systems = self
            .tracker
            .systems()
            .map(|system| {
                let in_last = last.and_then(|r| r.systems.get(system));
                let instances = self
                    .tracker
                    .instances()
                    .filter(|i| &i.system == system)
                    .map(|i| InstanceReport {
                        instance_id: i.instance_id,
                        live: i.dead.is_none(),
                        shards: in_last
                            .and_then(|s| s.per_instance.get(&i.instance_id))
                            .copied()
                            .unwrap_or(0),
                        load: i.load,
                    })
                    .collect();
                SystemReport {
                    system: system.clone(),
                    access: self.tracker.access(system).cloned().unwrap_or_default(),
                    instances,
                    rows: in_last.map_or(0, |s| s.rows),
                    max_run_micros: in_last.map_or(0, |s| s.max_run_micros),
                }
            })
            .collect();
        QueryResponse::Systems {
            tick: self.tick,
            entities: self.world.len() as u64,
            systems,
        }
    }

    fn entities_report(&self, wanted: &[String], first: u32) -> QueryResponse {
        let shapes = self.world.table_shapes();
        for w in wanted {
            let known = shapes
                .iter()
                .flat_map(|s| &s.columns)
                .any(|c| names(w, c.name, c.type_name));
            if !known {
                let mut all: Vec<&str> = shapes
                    .iter()
                    .flat_map(|s| &s.columns)
                    .map(|c| c.name)
                    .collect();
                all.sort_unstable();
                all.dedup();
                return QueryResponse::Error(format!(
                    "no table holds a component named {w:?}; the world's components are: {}",
                    all.join(", ")
                ));
            }
        }
        let mut count = 0u64;
        let mut rows_json = Vec::new();
        for shape in &shapes {
            if shape.rows == 0
                || !wanted
                    .iter()
                    .all(|w| shape.columns.iter().any(|c| names(w, c.name, c.type_name)))
            {
                continue;
            }
            count += shape.rows as u64;
            let take = (first as usize)
                .saturating_sub(rows_json.len())
                .min(shape.rows);
            if take == 0 {
                continue;
            }
            let Ok(entities) = self.world.table_entities(shape.table) else {
                continue;
            };
            let mut columns = Vec::new();
            for c in &shape.columns {
                let mut bytes = Vec::new();
                let size = match c.pod_size {
                    Some(_) => self
                        .world
                        .read_pod_column(shape.table, c.name, &mut bytes)
                        .ok(),
                    None => None,
                };
                columns.push((c, size, bytes));
            }
            for (row, entity) in entities.iter().take(take).enumerate() {
                let mut values = serde_json::Map::new();
                for (c, size, bytes) in &columns {
                    let value = match size {
                        Some(size) => self.config.json_views.render(
                            c.type_name,
                            bytes.get(row * size..(row + 1) * size).unwrap_or(&[]),
                        ),
                        None if c.registered => {
                            serde_json::json!({ "unavailable": "registered with serde, not as plain-old-data: its value is not readable as raw bytes" })
                        }
                        None => {
                            serde_json::json!({ "unavailable": "not registered for snapshots" })
                        }
                    };
                    values.insert(c.name.to_owned(), value);
                }
                // Sparse-set components live outside the table: by name, from the entity.
                for name in self.world.component_names(*entity).unwrap_or_default() {
                    if values.contains_key(name) {
                        continue;
                    }
                    let mut bytes = Vec::new();
                    let value = match self.world.encode_component(*entity, name, &mut bytes) {
                        Ok(true) => self.config.json_views.render(name, &bytes),
                        Ok(false) => continue,
                        Err(e) => serde_json::json!({ "unavailable": e.to_string() }),
                    };
                    values.insert(name.to_owned(), value);
                }
                let row = serde_json::json!({
                    "entity": entity.to_string(),
                    "bits": entity.to_bits(),
                    "components": values,
                });
                rows_json.push(row.to_string());
            }
        }
        QueryResponse::Entities { count, rows_json }
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn components_are_named_by_registration_type_or_last_segment() {
        assert!(names("Position", "game::Position", "game::Position"));
        assert!(names("game::Position", "game::Position", "game::Position"));
        assert!(names("pos", "pos", "game::Position"));
        assert!(!names("Velocity", "game::Position", "game::Position"));
        assert!(!names("Pos", "game::Position", "game::Position"));
    }

    /// Entity rows show sparse-set components beside the table ones.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn entity_rows_include_sparse_components() {
        use crate::demo::{self, Frozen, Position, Velocity};
        use crate::protocol::{QueryRequest, QueryResponse, Subjects};
        use crate::server::{NatsServer, ServerOptions};
        use crate::{Coordinator, CoordinatorConfig};

        let server = NatsServer::start(ServerOptions::new()).expect("server");
        let mut world = demo::world(0);
        world.register_sparse::<Frozen>().expect("no Frozen yet");
        let e = world.spawn((Position([1.0, 2.0, 3.0]), Velocity([0.0; 3])));
        world.insert(e, Frozen).expect("alive");
        world.spawn((Position([4.0, 5.0, 6.0]), Velocity([0.0; 3])));
        let config = CoordinatorConfig::new(
            server.url(),
            Subjects::new("query.sparse").expect("prefix"),
            Vec::new(),
        )
        .json_views(demo::json_views());
        let c = Coordinator::connect(config, world).await.expect("connects");
        let QueryResponse::Entities { count, rows_json } = c.answer(&QueryRequest::Entities {
            components: vec!["Position".into()],
            first: 10,
        }) else {
            panic!("not an entities answer")
        };
        assert_eq!(count, 2);
        let frozen = std::any::type_name::<Frozen>();
        let rows: Vec<serde_json::Value> = rows_json
            .iter()
            .map(|r| serde_json::from_str(r).expect("json"))
            .collect();
        let has = |row: &serde_json::Value| row["components"].get(frozen).is_some();
        assert_eq!(rows.iter().filter(|r| has(r)).count(), 1, "{rows:?}");
        assert!(rows.iter().all(|r| r["components"]
            .get(std::any::type_name::<Position>())
            .is_some()));
    }
}
