//! Integration tests of `smcp-router` through its public API: a table of lookup cases,
//! construction errors, a property test against a naive reference implementation, and
//! property tests of the path normal form against WHATWG-style and decoding readings.

mod routing {
    mod errors;
    mod normal;
    mod property;
    mod readings;
    mod table;
}
