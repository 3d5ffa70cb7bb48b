//! The decoder half: latent → tile. What archives store is its export, quantized to integers by
//! the codec ([`baler_codec::network::quantize_decoder`]).

use anyhow::Result;
use burn::prelude::*;

use super::{Activity, Layer, NetLayer};

/// Layers from the latent to the tile; an activation (LeakyReLU or inverse GDN) after each but the
/// last.
#[derive(Module, Debug)]
pub struct Decoder {
    pub(super) layers: Vec<Layer>,
}

impl Decoder {
    /// z: [batch, latent] → reconstruction [batch, tile values].
    pub fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        self.forward_tracked(z, None)
    }

    /// [`Self::forward`], adding every hidden activation to `activity`.
    pub fn forward_tracked(&self, z: Tensor<2>, mut activity: Option<&mut Activity>) -> Tensor<2> {
        let mut h = z;
        for layer in &self.layers {
            h = layer.forward(h);
            if let (Some(a), true) = (activity.as_deref_mut(), layer.activated()) {
                a.add(&h);
            }
        }
        h
    }

    /// The trained layers in the codec's layout.
    pub fn export(&self) -> Result<Vec<NetLayer>> {
        self.layers.iter().map(Layer::export).collect()
    }
}
