//! The encoder half: tile → latent.

use anyhow::Result;
use burn::prelude::*;

use super::{Activity, DenseLayer, Layer, NetLayer};

/// Layers from the tile to the latent; an activation after each but the last.
#[derive(Module, Debug)]
pub struct Encoder {
    pub(super) layers: Vec<Layer>,
}

impl Encoder {
    /// x: [batch, tile values] → latents [batch, latent].
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_tracked(x, None)
    }

    /// [`Self::forward`], adding every hidden activation and the latent to `activity`.
    pub fn forward_tracked(&self, x: Tensor<2>, mut activity: Option<&mut Activity>) -> Tensor<2> {
        let mut h = x;
        for layer in &self.layers {
            h = layer.forward(h);
            if let Some(a) = activity.as_deref_mut() {
                a.add(&h);
            }
        }
        h
    }

    /// An exported LeakyReLU encoder (dense matrices, see [`super::dense_layers`]) on `device`.
    pub fn from_dense(layers: &[DenseLayer], leaky_slope: f64, device: &Device) -> Self {
        let last = layers.len().saturating_sub(1);
        let layers = layers
            .iter()
            .enumerate()
            .map(|(i, l)| Layer::from_dense(l, i < last, leaky_slope, device))
            .collect();
        Self { layers }
    }

    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.layers[0].device()
    }

    /// The trained layers in the codec's layout.
    pub fn export(&self) -> Result<Vec<NetLayer>> {
        self.layers.iter().map(Layer::export).collect()
    }
}
