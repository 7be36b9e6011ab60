//! Credentials from the CRI `AuthConfig`, turned into what `oci-client` sends.

use base64::Engine;
use oci_client::secrets::RegistryAuth;

use crate::ImageError;

/// The CRI `AuthConfig` fields, as given by the kubelet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Credentials {
    /// Username for basic auth.
    pub username: String,
    /// Password for basic auth.
    pub password: String,
    /// base64 of `username:password`.
    pub auth: String,
    /// An OAuth2 identity (refresh) token.
    pub identity_token: String,
    /// A bearer token sent as is.
    pub registry_token: String,
}

impl Credentials {
    /// Which auth to use: a registry token wins, then username and password, then `auth`,
    /// then an identity token. Nothing set means anonymous.
    ///
    /// `oci-client` answers both basic and bearer challenges with `Basic`: on a bearer
    /// challenge it sends the credentials to the token realm. An identity token is sent the
    /// same way, as the password of the user `<token>` (Docker's convention).
    pub fn registry_auth(&self, reference: &str) -> Result<RegistryAuth, ImageError> {
        // Each value travels in an HTTP header (a bearer token as is, the rest base64-encoded);
        // none of them has a use for control characters, which would corrupt the header.
        for (field, value) in [
            ("username", &self.username),
            ("password", &self.password),
            ("auth", &self.auth),
            ("identity_token", &self.identity_token),
            ("registry_token", &self.registry_token),
        ] {
            if value.chars().any(char::is_control) {
                return Err(ImageError::InvalidReference {
                    reference: reference.to_owned(),
                    reason: format!("the credentials' {field} contains control characters"),
                });
            }
        }
        if !self.registry_token.is_empty() && !self.registry_token.is_ascii() {
            return Err(ImageError::InvalidReference {
                reference: reference.to_owned(),
                reason: "the credentials' registry_token is not ASCII".into(),
            });
        }
        if !self.registry_token.is_empty() {
            return Ok(RegistryAuth::Bearer(self.registry_token.clone()));
        }
        if !self.username.is_empty() || !self.password.is_empty() {
            return Ok(RegistryAuth::Basic(
                self.username.clone(),
                self.password.clone(),
            ));
        }
        if !self.auth.is_empty() {
            let invalid = |reason: &str| ImageError::InvalidReference {
                reference: reference.to_owned(),
                reason: format!("the auth field of the credentials {reason}"),
            };
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(self.auth.trim())
                .map_err(|_| invalid("is not base64"))?;
            let text = String::from_utf8(decoded).map_err(|_| invalid("is not UTF-8"))?;
            let (user, password) = text
                .split_once(':')
                .ok_or_else(|| invalid("is not base64 of user:password"))?;
            return Ok(RegistryAuth::Basic(user.to_owned(), password.to_owned()));
        }
        if !self.identity_token.is_empty() {
            return Ok(RegistryAuth::Basic(
                "<token>".to_owned(),
                self.identity_token.clone(),
            ));
        }
        Ok(RegistryAuth::Anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_that_cannot_travel_in_a_header_are_refused() {
        for bad in [
            Credentials {
                registry_token: "\r\n\t".into(),
                ..Default::default()
            },
            Credentials {
                registry_token: "tökén".into(),
                ..Default::default()
            },
            Credentials {
                identity_token: "a\nb".into(),
                ..Default::default()
            },
            Credentials {
                username: "u\0".into(),
                password: "p".into(),
                ..Default::default()
            },
        ] {
            let e = bad.registry_auth("r").unwrap_err();
            assert_eq!(e.kind(), crate::ImageErrorKind::InvalidArgument, "{e}");
        }
    }

    #[test]
    fn each_credential_form_maps_to_an_auth() {
        let auth = |c: Credentials| format!("{:?}", c.registry_auth("r").unwrap());
        assert_eq!(auth(Credentials::default()), "Anonymous");
        let basic = Credentials {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        assert!(auth(basic).starts_with("Basic(\"u\""));
        let encoded = Credentials {
            auth: base64::engine::general_purpose::STANDARD.encode("alice:s3cret"),
            ..Default::default()
        };
        assert!(auth(encoded).starts_with("Basic(\"alice\""));
        let token = Credentials {
            registry_token: "tok".into(),
            ..Default::default()
        };
        assert!(auth(token).starts_with("Bearer"));
        let bad = Credentials {
            auth: "!!!".into(),
            ..Default::default()
        };
        assert!(bad.registry_auth("r").is_err());
    }
}
