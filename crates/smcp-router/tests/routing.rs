//! Integration tests of `smcp-router` through its public API: a table of lookup cases,
//! construction errors, and a property test against a naive reference implementation.

mod routing {
    mod errors;
    mod property;
    mod table;
}
