//! The autoencoder, the burn way: [`AutoencoderConfig`] describes it (Baler's dense AE, or a 2-D /
//! 3-D convolutional AE, with LeakyReLU or GDN between layers) and `init`s it on a device;
//! [`Encoder`] and [`Decoder`] are burn modules with `forward`. `export` turns trained weights into
//! the codec's layer layout ([`NetLayer`], [`dense_layers`]), and [`infer`] runs an exported
//! encoder for the compressor.
//!
//! One encoder, two executions: burn's (training, and the compressor's encoder on a GPU) and the
//! plain f32 CPU pass of [`infer::forward_f32`], which fixes the order of every sum so that the
//! latents, and so the archives, are the same bits on every run and machine.

mod config;
mod decoder;
mod encoder;
mod export;
mod gdn;
pub mod infer;
mod layer;

use burn::prelude::*;

pub use config::{Arch, AutoencoderConfig, ConvArch, LayerSpec};
pub use decoder::Decoder;
pub use encoder::Encoder;
pub use export::{DenseLayer, NetLayer, dense_layers, tensor_to_vec};
pub use gdn::{FloatNorm, Gdn};
pub use layer::Layer;

/// The autoencoder.
#[derive(Module, Debug)]
pub struct Autoencoder {
    pub encoder: Encoder,
    pub decoder: Decoder,
}

/// Sum of |activation| over the activations seen and how many values that is: the L1 penalty.
#[derive(Default)]
pub struct Activity {
    pub sum: Option<Tensor<1>>,
    pub count: usize,
}

impl Activity {
    fn add(&mut self, a: &Tensor<2>) {
        let [r, c] = a.dims();
        self.count += r * c;
        let s = a.clone().abs().sum();
        self.sum = Some(match self.sum.take() {
            Some(t) => t + s,
            None => s,
        });
    }
}

/// Output of a forward pass: reconstruction, latent, and (if asked) the sum of |activation| over
/// the hidden layers and the latent.
pub struct Forward {
    pub output: Tensor<2>,
    pub latent: Tensor<2>,
    pub activity: Option<Activity>,
}

impl Autoencoder {
    /// The device the parameters live on.
    pub fn device(&self) -> Device {
        self.encoder.device()
    }

    /// x: [batch, tile values]. With `with_activity`, the L1 penalty's sums come along.
    pub fn forward(&self, x: Tensor<2>, with_activity: bool) -> Forward {
        let mut activity = with_activity.then(Activity::default);
        let latent = self.encoder.forward_tracked(x, activity.as_mut());
        let output = self.decoder.forward_tracked(latent.clone(), activity.as_mut());
        Forward { output, latent, activity }
    }

    /// The trained weights in the codec's layout: (encoder, decoder).
    pub fn export(&self) -> anyhow::Result<(Vec<NetLayer>, Vec<NetLayer>)> {
        Ok((self.encoder.export()?, self.decoder.export()?))
    }
}
