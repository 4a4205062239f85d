//! The errors of world operations.

use crate::entity::Entity;

/// What went wrong in a [`World`](crate::World) operation.
///
/// Every variant names the value it was about; type names are the full
/// [`std::any::type_name`] of the component or resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EcsError {
    /// The entity id is not alive in this world: it was despawned (its slot's
    /// generation has moved on, possibly to a new entity reusing the index),
    /// the world was cleared, or the id never came from this world.
    /// Drop the id; look the entity up again from a query if you still need it.
    #[error(
        "entity {entity:?} is stale: it was despawned (or never belonged to this world); \
         ids are not reused, look the entity up again"
    )]
    StaleEntity {
        /// The rejected id.
        entity: Entity,
    },

    /// The entity is alive but has no component of this type. Check with
    /// [`World::has`](crate::World::has) first, or `insert` the component.
    #[error(
        "entity {entity:?} has no component `{component}`; insert it first or check with `has`"
    )]
    MissingComponent {
        /// The entity looked at.
        entity: Entity,
        /// The type name of the missing component.
        component: &'static str,
    },

    /// The entity is alive but does not match the query (its table lacks
    /// a required component, has an excluded one, or a row filter such as
    /// `Changed` rejects it). Check the query's data and filter.
    #[error("entity {entity:?} does not match query `{query}`")]
    QueryMismatch {
        /// The entity looked up.
        entity: Entity,
        /// The type name of the query data and filter.
        query: &'static str,
    },

    /// [`QueryBorrow::single`](crate::QueryBorrow::single) found no
    /// matching entity, or more than one.
    #[error(
        "query `{query}` matched {} entities where exactly one was expected",
        if *.more_than_one { "more than one" } else { "no" }
    )]
    NotSingle {
        /// The type name of the query data and filter.
        query: &'static str,
        /// `true`: two or more matched; `false`: none did.
        more_than_one: bool,
    },

    /// No resource of this type is in the world. Insert it with
    /// [`World::insert_resource`](crate::World::insert_resource) before the
    /// systems that read it run.
    #[error("no resource `{resource}` in the world; add it with `World::insert_resource`")]
    MissingResource {
        /// The type name of the missing resource.
        resource: &'static str,
    },

    /// [`QueryBorrow::get_many_mut`](crate::QueryBorrow::get_many_mut) was
    /// given one entity twice: two mutable items of one entity would alias.
    /// Pass distinct entities.
    #[error(
        "entity {entity:?} is named more than once in a `get_many_mut` of query `{query}`; \
         pass distinct entities"
    )]
    DuplicateEntity {
        /// The repeated entity.
        entity: Entity,
        /// The type name of the query data and filter.
        query: &'static str,
    },

    /// [`World::register_sparse`](crate::World::register_sparse) came after
    /// the component was already stored in a table of this world. Register
    /// sparse-set storage before the first spawn or insert of the type.
    #[error(
        "component `{component}` is already stored in archetype tables of this world; \
         call `World::register_sparse` before its first spawn or insert"
    )]
    StorageInUse {
        /// The type name of the component.
        component: &'static str,
    },
    /// [`World::sparse_storage_mut`](crate::World::sparse_storage_mut) was
    /// asked for a component with table storage.
    #[error(
        "component `{component}` has table storage, not a sparse set; call \
         `World::register_sparse` before its first spawn or insert, or use `World::insert`"
    )]
    NotSparse {
        /// The type name of the component.
        component: &'static str,
    },
}
