//! [`OpenFeatureProvider`]: tenantry's flags behind the OpenFeature SDK.
//!
//! The provider evaluates for the tenant of the current
//! [context](crate::context), not for the evaluation context's targeting
//! key: code that asks the SDK for a flag gets its own tenant's value and
//! cannot ask for another's.

use open_feature::provider::{FeatureProvider, ProviderMetadata, ResolutionDetails};
use open_feature::{
    EvaluationContext, EvaluationError, EvaluationErrorCode, EvaluationReason, EvaluationResult,
    StructValue,
};

use super::{ConfigError, FlagSource, Settings, TenantConfig};

/// Serves a [`TenantConfig`]'s flags to OpenFeature; see the module docs.
pub struct OpenFeatureProvider<S: Settings> {
    config: TenantConfig<S>,
    metadata: ProviderMetadata,
}

impl<S: Settings> OpenFeatureProvider<S> {
    /// A provider over `config`.
    pub fn new(config: TenantConfig<S>) -> Self {
        Self {
            config,
            metadata: ProviderMetadata::new("tenantry"),
        }
    }
}

fn error(code: EvaluationErrorCode, message: impl Into<String>) -> EvaluationError {
    EvaluationError {
        code,
        message: Some(message.into()),
    }
}

fn only_booleans<T>() -> EvaluationResult<ResolutionDetails<T>> {
    Err(error(
        EvaluationErrorCode::TypeMismatch,
        "tenantry flags are booleans",
    ))
}

#[open_feature::async_trait]
impl<S: Settings> FeatureProvider for OpenFeatureProvider<S> {
    fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    async fn resolve_bool_value(
        &self,
        flag_key: &str,
        _evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<bool>> {
        match self.config.flag_state(flag_key).await {
            Ok(state) => Ok(ResolutionDetails {
                value: state.enabled,
                variant: Some(if state.enabled { "on" } else { "off" }.to_owned()),
                reason: Some(match state.source {
                    FlagSource::Override => EvaluationReason::Static,
                    FlagSource::Plan => EvaluationReason::TargetingMatch,
                    FlagSource::Rollout => EvaluationReason::Split,
                }),
                flag_metadata: None,
            }),
            Err(ConfigError::UnknownFlag(key)) => {
                Err(error(EvaluationErrorCode::FlagNotFound, key))
            }
            Err(e @ (ConfigError::NoTenantContext(_) | ConfigError::SystemTenant)) => Err(error(
                EvaluationErrorCode::TargetingKeyMissing,
                e.to_string(),
            )),
            Err(e) => Err(error(
                EvaluationErrorCode::General(e.to_string()),
                e.to_string(),
            )),
        }
    }

    async fn resolve_int_value(
        &self,
        _flag_key: &str,
        _evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<i64>> {
        only_booleans()
    }

    async fn resolve_float_value(
        &self,
        _flag_key: &str,
        _evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<f64>> {
        only_booleans()
    }

    async fn resolve_string_value(
        &self,
        _flag_key: &str,
        _evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<String>> {
        only_booleans()
    }

    async fn resolve_struct_value(
        &self,
        _flag_key: &str,
        _evaluation_context: &EvaluationContext,
    ) -> EvaluationResult<ResolutionDetails<StructValue>> {
        only_booleans()
    }
}
