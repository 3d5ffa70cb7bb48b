//! Small DOM helpers over the elements of `index.html` (looked up by id).

use wasm_bindgen::JsCast;
use web_sys::{Document, HtmlElement};

pub fn document() -> Document {
    web_sys::window().and_then(|w| w.document()).expect("a document")
}

/// Element `id` of index.html, as type `T`. The page and this code ship together, so a missing
/// element is a build bug.
pub fn el<T: JsCast>(id: &str) -> T {
    document()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("index.html has no #{id}"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} has the wrong element type"))
}

pub fn set_text(id: &str, text: &str) {
    el::<HtmlElement>(id).set_text_content(Some(text));
}

pub fn show(id: &str, visible: bool) {
    el::<HtmlElement>(id).set_hidden(!visible);
}

fn body() -> HtmlElement {
    document().body().expect("a body")
}

/// `body[data-<key>] = value` (the page's CSS and the browser tests read these).
pub fn set_body_data(key: &str, value: &str) {
    let _ = body().dataset().set(key, value);
}
