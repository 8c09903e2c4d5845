//! A client's IP address together with its text form, rendered once per connection.
//!
//! The address goes into every forwarded request (`X-Forwarded-For`) and every access-log
//! line. Printing an IP address is a formatting pass and an allocation; a connection carries
//! many requests from the same address, so it is printed once, when the connection is
//! accepted, and shared from then on.

use std::net::IpAddr;

use http::HeaderValue;

/// A client's IP address and its text form. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ClientAddr {
    ip: IpAddr,
    text: HeaderValue,
}

impl ClientAddr {
    /// The address `ip`, printed once.
    pub fn new(ip: IpAddr) -> Self {
        // An IP address prints as ASCII digits, dots, colons and hex letters only, which every
        // header value accepts; the fallback is unreachable but keeps this free of `expect`.
        let text = HeaderValue::try_from(ip.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self { ip, text }
    }

    /// The address.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The address as text (`203.0.113.7`, `2001:db8::1`).
    pub fn as_str(&self) -> &str {
        self.text.to_str().unwrap_or("unknown")
    }

    /// The address as a header value, for `X-Forwarded-For`.
    pub fn header_value(&self) -> &HeaderValue {
        &self.text
    }
}

impl From<IpAddr> for ClientAddr {
    fn from(ip: IpAddr) -> Self {
        Self::new(ip)
    }
}

#[cfg(test)]
mod tests {
    use super::ClientAddr;

    #[test]
    fn text_forms() {
        let v4 = ClientAddr::new("203.0.113.7".parse().unwrap());
        assert_eq!(v4.as_str(), "203.0.113.7");
        assert_eq!(v4.header_value(), "203.0.113.7");
        let v6 = ClientAddr::from("2001:db8::1".parse::<std::net::IpAddr>().unwrap());
        assert_eq!(v6.as_str(), "2001:db8::1");
        assert_eq!(v6.ip(), "2001:db8::1".parse::<std::net::IpAddr>().unwrap());
    }
}
