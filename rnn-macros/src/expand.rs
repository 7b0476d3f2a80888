//! Expansion: a struct per network wrapping `rnn_core`'s `Sequencer` around a chain of the
//! layers, its constructor, its `Network` impl, and one type-level shape check per adjacent
//! pair of layers (spanned at the second layer).

use crate::tree::{Item, Leaf, Size};
use crate::validate::{Network, Validated};
use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use rnn_format::layers::{Factor, Kind};

pub fn expand(v: Validated) -> TokenStream {
    let mut out = TokenStream::new();
    for e in v.errors {
        out.extend(e.to_compile_error());
    }
    for name in v.unknown {
        // Let the compiler report it: it names the module and suggests similar names.
        out.extend(quote_spanned! {name.span()=>
            const _: ::core::marker::PhantomData<::rnn_core::dsl::#name> = ::core::marker::PhantomData;
        });
    }
    for net in v.networks {
        out.extend(network(net));
    }
    out
}

fn lit(n: usize) -> Literal {
    Literal::usize_unsuffixed(n)
}

/// A size as tokens for a const generic argument: the literal, or `{ PATH }` for a constant.
fn size_tokens(size: &Size) -> TokenStream {
    match size {
        Size::Lit(n) => {
            let l = lit(*n);
            quote!(#l)
        }
        Size::Const(path) => quote!({ #path }),
    }
}

/// `gates * size` as tokens (`gates > 0`): a literal when the size is one, else a const block.
fn times_tokens(gates: usize, size: &Size) -> TokenStream {
    match size {
        // Validation bounds every literal size so that this cannot overflow.
        Size::Lit(n) => {
            let l = lit(gates.saturating_mul(*n));
            quote!(#l)
        }
        Size::Const(path) => {
            let g = lit(gates);
            quote!({ #g * #path })
        }
    }
}

/// The product of `factors` over `values` (a shaped layer's type argument): a literal when
/// every factor is one (validation bounds literal values so that it cannot overflow), else a
/// const block.
fn product_tokens(factors: &[Factor], values: &[TokenStream]) -> TokenStream {
    let literal = |t: &TokenStream| {
        syn::parse2::<syn::LitInt>(t.clone())
            .ok()
            .and_then(|l| l.base10_parse::<usize>().ok())
    };
    let terms: Vec<(TokenStream, Option<usize>)> = factors
        .iter()
        .map(|f| match *f {
            Factor::V(k) => {
                let t = values.get(k).cloned().unwrap_or_default();
                let n = literal(&t);
                (t, n)
            }
            Factor::LessOne(k) => {
                let t = values.get(k).cloned().unwrap_or_default();
                let n = literal(&t).map(|n| n.saturating_sub(1));
                (quote!((#t - 1)), n)
            }
        })
        .collect();
    if let Some(n) = terms
        .iter()
        .try_fold(1usize, |acc, (_, n)| n.and_then(|n| acc.checked_mul(n)))
    {
        let l = lit(n);
        return quote!(#l);
    }
    let tokens = terms.iter().map(|(t, _)| t);
    quote!({ 1 #(* #tokens)* })
}

/// A layer with sizes `(a, b)` (its declared input and its output), built as `ty` taking `i`
/// inputs: the element, and its marker for the `Follows` check (spanned at the layer).
fn with_sizes(
    leaf: &Leaf,
    ty: TokenStream,
    i: TokenStream,
    (a, b): (&Size, &Size),
) -> (Built, TokenStream) {
    let (a_t, b_t) = (size_tokens(a), size_tokens(b));
    let ctor = quote!(<#ty>::try_new(rng)?);
    let marker_name = &leaf.name;
    let mut marker = quote_spanned!(leaf.name.span()=> ::rnn_core::dsl::#marker_name<#a_t, #b_t);
    marker.extend(quote_spanned!(leaf.end=> >));
    let built = Built {
        ty,
        ctor,
        n_in: i,
        n_out: b_t,
    };
    (built, marker)
}

/// A built element: its type, its constructor expression, its input and output sizes.
#[derive(Clone)]
struct Built {
    ty: TokenStream,
    ctor: TokenStream,
    n_in: TokenStream,
    n_out: TokenStream,
}

/// Walks the layers in order, tracking the previous layer's output size and marker.
struct Builder<'a> {
    scalar: &'a syn::Ident,
    prev: Option<(TokenStream, TokenStream)>,
    checks: Vec<TokenStream>,
    /// `seq_len * batch`, for the range checks of constant sizes.
    columns: usize,
}

impl Builder<'_> {
    /// For a layer whose sizes are constants: the range checks validation makes on literals, at
    /// compile time, spanned at the layer.
    fn check_const_sizes(&mut self, leaf: &Leaf, gates: usize, (a, b): (&Size, &Size)) {
        if a.value().is_some() && b.value().is_some() {
            return;
        }
        let (g, c) = (lit(gates), lit(self.columns));
        let (a_t, b_t) = (size_tokens(a), size_tokens(b));
        let mut check = quote_spanned!(leaf.name.span()=> let () =);
        check.extend(quote_spanned!(leaf.end=>
            ::rnn_core::__private::check_sizes(#g, #a_t, #b_t, #c);
        ));
        self.checks.push(check);
    }

    fn leaf(&mut self, leaf: &Leaf) -> Built {
        let s = self.scalar;
        let ty_name = format_ident!("{}", leaf.entry.ty, span = leaf.name.span());
        let marker_name = &leaf.name;
        let given = self.prev.as_ref().map(|(n, _)| n.clone());
        let (built, marker) = match (leaf.entry.kind, &leaf.sizes) {
            (Kind::Sized { gates }, Some((a, b))) => {
                // The real input size is what the previous layer gives; a mismatch with the
                // declared `a` is reported by the `Follows` check below, and only there.
                let b_t = size_tokens(b);
                let i = given.unwrap_or_else(|| size_tokens(a));
                let ty = if gates > 0 {
                    let g = times_tokens(gates, b);
                    quote!(::rnn_core::layers::#ty_name<#s, #i, #b_t, #g>)
                } else {
                    quote!(::rnn_core::layers::#ty_name<#s, #i, #b_t>)
                };
                self.check_const_sizes(leaf, gates, (a, b));
                with_sizes(leaf, ty, i, (a, b))
            }
            (Kind::Shaped(shape), Some((a, b))) => {
                // As for a sized layer, the input size is the previous layer's output size.
                let i = given.unwrap_or_else(|| size_tokens(a));
                let values: Vec<TokenStream> = leaf
                    .values()
                    .into_iter()
                    .enumerate()
                    .map(|(k, v)| if k == 0 { i.clone() } else { size_tokens(v) })
                    .collect();
                let args: Vec<TokenStream> = shape
                    .args
                    .iter()
                    .map(|factors| product_tokens(factors, &values))
                    .collect();
                let ty = quote!(::rnn_core::layers::#ty_name<#s, #(#args),*>);
                if leaf.values().iter().any(|v| v.value().is_none()) {
                    let c = lit(self.columns);
                    let mut check = quote_spanned!(leaf.name.span()=> let () =);
                    check.extend(quote_spanned!(leaf.end=>
                        ::rnn_core::__private::check_shaped(&[#(#values),*], &[#(#args),*], #c);
                    ));
                    self.checks.push(check);
                }
                with_sizes(leaf, ty, i, (a, b))
            }
            _ => {
                // Validation guarantees a size-free layer has a predecessor.
                let n = given.unwrap_or_else(|| quote!(1));
                let ty = quote!(::rnn_core::layers::#ty_name<#s, #n>);
                let ctor = match leaf.p {
                    Some(p) => {
                        let p = Literal::f64_suffixed(p);
                        quote!(<#ty>::new(#p, rng))
                    }
                    None => quote!(<#ty>::new()),
                };
                (
                    Built {
                        ty,
                        ctor,
                        n_in: n.clone(),
                        n_out: n.clone(),
                    },
                    quote!(::rnn_core::dsl::#marker_name<#n>),
                )
            }
        };
        if let (Some((n, prev_marker)), Some(_)) = (&self.prev, &leaf.sizes) {
            self.checks.push(quote_spanned! {leaf.name.span()=>
                let () = <#marker as ::rnn_core::dsl::Follows<#prev_marker, #n>>::OK;
            });
        }
        self.prev = Some((
            built.n_out.clone(),
            marker
                .into_iter()
                .map(|mut t| {
                    t.set_span(Span::call_site());
                    t
                })
                .collect(),
        ));
        built
    }

    /// `Residual[ items ]`: the items as a sequential, wrapped in `Residual`, with a check
    /// (spanned at the keyword) that they give as many outputs as they take inputs.
    fn residual(&mut self, keyword: Span, items: &[Item]) -> Built {
        let inner = self.sequential(items);
        let (i, o) = (&inner.n_in, &inner.n_out);
        self.checks.push(quote_spanned! {keyword=>
            let () = <::rnn_core::dsl::Outputs<#o> as ::rnn_core::dsl::SameSize<#i>>::OK;
        });
        let (ty, ctor) = (&inner.ty, &inner.ctor);
        Built {
            ty: quote!(::rnn_core::__private::Residual<#ty>),
            ctor: quote!(::rnn_core::__private::Residual(#ctor)),
            n_in: inner.n_in.clone(),
            n_out: inner.n_out.clone(),
        }
    }

    /// `BiSequencer[ items ]`: two copies of the items (one layer as it is, several as a
    /// sequential), outputs joined: `2 x` the items' output size.
    fn bi(&mut self, keyword: Span, items: &[Item]) -> Built {
        let inner = match items {
            [Item::Leaf(l)] => self.leaf(l),
            _ => self.sequential(items),
        };
        let (ty, ctor, o) = (&inner.ty, &inner.ctor, &inner.n_out);
        let n_out = match syn::parse2::<syn::LitInt>(o.clone())
            .ok()
            .and_then(|l| l.base10_parse::<usize>().ok())
            .and_then(|n| n.checked_mul(2))
        {
            Some(n) => {
                let l = lit(n);
                quote!(#l)
            }
            None => quote!({ 2 * #o }),
        };
        let marker = quote_spanned!(keyword=> ::rnn_core::dsl::BiSequencer<#n_out>);
        self.prev = Some((n_out.clone(), marker));
        Built {
            ty: quote!(::rnn_core::__private::BiSequencer<#ty, #o>),
            // Fields are evaluated in order: the forward copy draws its weights first.
            ctor: quote!(::rnn_core::__private::BiSequencer { fwd: #ctor, bwd: #ctor }),
            n_in: inner.n_in.clone(),
            n_out,
        }
    }

    /// A leading `LookupTable(vocab, dim)`: the network's encoder, named as position 0.
    fn lookup(&mut self, leaf: &Leaf) -> Option<Built> {
        let (v, d) = leaf.sizes.as_ref()?;
        let s = self.scalar;
        let (v_t, d_t) = (size_tokens(v), size_tokens(d));
        let ty = quote!(::rnn_core::layers::LookupTable<#s, #v_t, #d_t>);
        let mut ctor = quote!(<#ty>::try_new(rng)?);
        if let Some(k) = leaf.padding {
            let k = lit(k);
            ctor = quote!(#ctor.with_padding(const { ::rnn_core::__private::padding::<#v_t>(#k) }));
        }
        self.check_const_sizes(leaf, 0, (v, d));
        let marker_name = &leaf.name;
        let marker = quote!(::rnn_core::dsl::#marker_name<#v_t, #d_t>);
        self.prev = Some((d_t.clone(), marker));
        Some(Built {
            ty: quote!(::rnn_core::__private::Named<#ty, 0>),
            ctor: quote!(::rnn_core::__private::Named(#ctor)),
            n_in: v_t,
            n_out: d_t,
        })
    }

    /// `Sequential[ items ]` as nested `Chain`s of `Named` layers.
    fn sequential(&mut self, items: &[Item]) -> Built {
        self.sequential_from(items, 0)
    }

    /// [`Builder::sequential`] with the items at positions `first..` (after an encoder at 0).
    fn sequential_from(&mut self, items: &[Item], first: usize) -> Built {
        let parts: Vec<Built> = items
            .iter()
            .map(|it| match it {
                Item::Leaf(l) => self.leaf(l),
                Item::Seq(inner) => self.sequential(inner),
                Item::Residual(keyword, inner) => self.residual(*keyword, inner),
                Item::Bi(keyword, inner) => self.bi(*keyword, inner),
            })
            .collect();
        let named: Vec<Built> = parts
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let (ty, ctor, k) = (&b.ty, &b.ctor, lit(first + k));
                Built {
                    ty: quote!(::rnn_core::__private::Named<#ty, #k>),
                    ctor: quote!(::rnn_core::__private::Named(#ctor)),
                    n_in: b.n_in.clone(),
                    n_out: b.n_out.clone(),
                }
            })
            .collect();
        // Chunks of at most CHAIN consecutive layers, each a right-nested chain (the whole
        // sequential when it is that short), joined in a balanced tree: the type nests
        // O(CHAIN + log n) deep, not n (rustc's trait solver and layout recurse once per
        // level, and overflow or crash in the hundreds). Names come from `Named`'s positions,
        // so the grouping does not show in them.
        let chunks = named.chunks(CHAIN).filter_map(|chunk| {
            let (last, before) = chunk.split_last()?;
            Some(
                before
                    .iter()
                    .rev()
                    .fold(last.clone(), |rest, first| chain(first, &rest)),
            )
        });
        let mut level: Vec<Built> = chunks.collect();
        while level.len() > 1 {
            level = level
                .chunks(2)
                .filter_map(|pair| {
                    let (a, b) = pair.split_first()?;
                    Some(b.first().map_or_else(|| a.clone(), |b| chain(a, b)))
                })
                .collect();
        }
        level.pop().unwrap_or_else(|| Built {
            ty: quote!(()),
            ctor: quote!(()),
            n_in: quote!(0),
            n_out: quote!(0),
        })
    }
}

/// The most layers of one sequential in a single right-nested chain (see
/// [`Builder::sequential_from`]). Up to this many, a network's `State` is the nested pairs
/// `(first's, (second's, (...)))`.
const CHAIN: usize = 32;

/// `first` then `rest`, joined by `first`'s output size.
fn chain(first: &Built, rest: &Built) -> Built {
    let (a_ty, a_ctor, m, b_ty, b_ctor) =
        (&first.ty, &first.ctor, &first.n_out, &rest.ty, &rest.ctor);
    Built {
        ty: quote!(::rnn_core::__private::Chain<#a_ty, #b_ty, #m>),
        ctor: quote!(::rnn_core::__private::Chain { first: #a_ctor, rest: #b_ctor }),
        n_in: first.n_in.clone(),
        n_out: rest.n_out.clone(),
    }
}

fn network(net: Network) -> TokenStream {
    let Network {
        attrs,
        vis,
        name,
        seq_len,
        batch,
        scalar,
        unroll,
        mask_zero,
        repeat,
        online,
        body,
        weights,
    } = net;
    let mut b = Builder {
        scalar: &scalar,
        prev: None,
        checks: Vec::new(),
        columns: seq_len.saturating_mul(batch),
    };
    let encoder = match body.first() {
        Some(Item::Leaf(l)) if l.entry.kind == Kind::Lookup => b.lookup(l),
        _ => None,
    };
    let (enc_ty, enc_ctor, layers) = match &encoder {
        Some(e) => (e.ty.clone(), e.ctor.clone(), &body[1..]),
        None => (
            quote!(::rnn_core::__private::Dense),
            quote!(::rnn_core::__private::Dense),
            &body[..],
        ),
    };
    let built = b.sequential_from(layers, usize::from(encoder.is_some()));
    let (layer_ty, ctor) = (&built.ty, &built.ctor);
    let (i, o, bt, t) = (&built.n_in, &built.n_out, lit(batch), lit(seq_len));
    let seq_ty =
        quote!(::rnn_core::__private::Sequencer<#scalar, #layer_ty, #i, #o, #bt, #t, #enc_ty>);
    let has_doc = attrs.iter().any(|a| a.path().is_ident("doc"));
    let default_doc = (!has_doc).then(|| {
        let doc = format!("A recurrent network generated by `network!` ({seq_len} steps, batch {batch}, {scalar}).");
        quote!(#[doc = #doc])
    });
    let mode = if repeat {
        quote!(repeat)
    } else if unroll {
        // Both orders written out: the expansion needs no recursion (which stopped at ~126 steps).
        let steps = (0..seq_len).map(lit);
        let reversed = (0..seq_len).rev().map(lit);
        quote!(unroll [#(#steps)*] [#(#reversed)*])
    } else {
        quote!(loop)
    };
    let checks = &b.checks;
    let top: Vec<String> = body
        .iter()
        .map(|it| match it {
            Item::Leaf(l) => l.name.to_string(),
            Item::Seq(_) => "Sequential".into(),
            Item::Residual(..) => "Residual".into(),
            Item::Bi(..) => "BiSequencer".into(),
        })
        .collect();
    let pretrained = weights.map(|w| pretrained(&name, &w));
    let mask_zero = mask_zero.then(|| quote!(.try_with_mask_zero(true)?));
    let online = if online {
        quote!(online)
    } else {
        quote!(whole)
    };
    quote! {
        #(#attrs)*
        #default_doc
        #vis struct #name {
            inner: #seq_ty,
        }

        impl #name {
            /// Builds the network with Torch's default initialisation, deterministic for `seed`.
            /// Aborts (as `Box::new` does) if memory runs out; see `try_new`.
            #[must_use]
            pub fn new(seed: u64) -> Self {
                match Self::try_new(seed) {
                    ::core::result::Result::Ok(net) => net,
                    ::core::result::Result::Err(e) => e.abort(),
                }
            }

            /// Builds the network like `new`, or returns the allocation that failed instead of
            /// aborting (parameters, their gradient and optimiser buffers, and per-step storage
            /// are allocated here, once).
            ///
            /// # Errors
            /// An `AllocError` saying how many bytes could not be allocated.
            pub fn try_new(seed: u64) -> ::core::result::Result<Self, ::rnn_core::__private::AllocError> {
                let mut net = Self::try_new_for_inference(seed)?;
                ::rnn_core::__private::Parameterized::try_reserve_training(&mut net)?;
                ::core::result::Result::Ok(net)
            }

            /// Builds the network like `new` (the same weights), without the parameters'
            /// gradient and optimiser buffers: a quarter of the parameters' memory, for a network
            /// that only runs. It can still train: its first backward and optimiser step
            /// allocate what they need, or `try_reserve_training` does beforehand.
            /// Aborts (as `Box::new` does) if memory runs out; see `try_new_for_inference`.
            #[must_use]
            pub fn new_for_inference(seed: u64) -> Self {
                match Self::try_new_for_inference(seed) {
                    ::core::result::Result::Ok(net) => net,
                    ::core::result::Result::Err(e) => e.abort(),
                }
            }

            /// Builds the network like `new_for_inference`, or returns the allocation that
            /// failed instead of aborting.
            ///
            /// # Errors
            /// An `AllocError` saying how many bytes could not be allocated.
            pub fn try_new_for_inference(seed: u64) -> ::core::result::Result<Self, ::rnn_core::__private::AllocError> {
                let mut rng = ::rnn_core::__private::Rng::new(seed);
                let rng = &mut rng;
                ::core::result::Result::Ok(Self {
                    inner: <#seq_ty>::try_with_encoder(#enc_ctor, #ctor)? #mask_zero,
                })
            }
        }

        impl #name {
            /// The top-level layers as the DSL names them (for `Network::__top_layers`).
            #[doc(hidden)]
            pub const __TOP_LAYERS: &'static [&'static str] = &[#(#top),*];
        }

        impl ::core::clone::Clone for #name {
            /// A deep copy of the parameters (with gradients and optimiser state) and settings,
            /// with fresh per-step storage (as after `forget`).
            fn clone(&self) -> Self {
                Self { inner: ::core::clone::Clone::clone(&self.inner) }
            }
        }

        ::rnn_core::__impl_network!(#name, #scalar, #seq_ty, #i, #o, #bt, #t, #mode, #online);

        #pretrained

        const _: () = {
            #(#checks)*
        };
    }
}

/// `pretrained()` / `try_pretrained()` for a network with `weights = "file"`: the file's bytes
/// embedded, and where each parameter's tensor is in them, found when the macro expanded.
fn pretrained(name: &syn::Ident, w: &crate::weights::Weights) -> TokenStream {
    let path = &w.path;
    let (load, extra) = match &w.source {
        crate::weights::Source::Tensors(tensors) => {
            let tensors = tensors.iter().map(|t| {
                let ours = &t.ours;
                let dtype = format_ident!("{}", format!("{:?}", t.dtype));
                let shape = t.shape.iter().map(|&n| lit(n));
                let (start, end) = (lit(t.bytes.start), lit(t.bytes.end));
                quote! {
                    ::rnn_core::__private::Embedded {
                        name: #ours,
                        dtype: ::rnn_core::__private::Dtype::#dtype,
                        shape: &[#(#shape),*],
                        bytes: #start..#end,
                    }
                }
            });
            (
                quote! {
                    static FILE: &[u8] = ::core::include_bytes!(#path);
                    static TENSORS: &[::rnn_core::__private::Embedded] = &[#(#tensors),*];
                    ::rnn_core::__private::load_embedded(&mut net, FILE, TENSORS);
                },
                quote!(),
            )
        }
        crate::weights::Source::Nam {
            lstm,
            weights,
            sample_rate,
        } => {
            let (i, h, l) = (
                lit(lstm.input_size),
                lit(lstm.hidden_size),
                lit(lstm.num_layers),
            );
            let n = lit(weights.len());
            let values = weights.iter().map(|&x| Literal::f32_suffixed(x));
            let rate = Literal::f64_suffixed(*sample_rate);
            let rate_doc = format!("The sample rate `{}` was trained at, in Hz.", w.written);
            (
                quote! {
                    // The build depends on the file (the macro read it; this makes cargo watch it).
                    const _: &[u8] = ::core::include_bytes!(#path);
                    static WEIGHTS: [f32; #n] = [#(#values),*];
                    let lstm = ::rnn_core::__private::NamLstm {
                        input_size: #i,
                        hidden_size: #h,
                        num_layers: #l,
                    };
                    ::rnn_core::__private::load_nam_embedded(&mut net, lstm, &WEIGHTS);
                },
                quote! {
                    impl #name {
                        #[doc = #rate_doc]
                        pub const SAMPLE_RATE: f64 = #rate;
                    }
                },
            )
        }
    };
    let doc = format!(
        "`{name}` with the weights of `{}`, embedded in the binary when it was built (checked \
         then against the network: no file, no parsing at run time). Aborts (as `Box::new` \
         does) if memory runs out; see `try_pretrained`.",
        w.written
    );
    quote! {
        impl #name {
            #[doc = #doc]
            #[must_use]
            pub fn pretrained() -> Self {
                match Self::try_pretrained() {
                    ::core::result::Result::Ok(net) => net,
                    ::core::result::Result::Err(e) => e.abort(),
                }
            }

            /// Builds the network like `pretrained`, or returns the allocation that failed
            /// instead of aborting.
            ///
            /// # Errors
            /// An `AllocError` saying how many bytes could not be allocated.
            pub fn try_pretrained() -> ::core::result::Result<Self, ::rnn_core::__private::AllocError> {
                let mut net = Self::try_pretrained_for_inference()?;
                ::rnn_core::__private::Parameterized::try_reserve_training(&mut net)?;
                ::core::result::Result::Ok(net)
            }

            /// `pretrained` without the parameters' gradient and optimiser buffers (see
            /// `new_for_inference`): what a device that only runs the model needs. Aborts (as
            /// `Box::new` does) if memory runs out; see `try_pretrained_for_inference`.
            #[must_use]
            pub fn pretrained_for_inference() -> Self {
                match Self::try_pretrained_for_inference() {
                    ::core::result::Result::Ok(net) => net,
                    ::core::result::Result::Err(e) => e.abort(),
                }
            }

            /// Builds the network like `pretrained_for_inference`, or returns the allocation
            /// that failed instead of aborting.
            ///
            /// # Errors
            /// An `AllocError` saying how many bytes could not be allocated.
            pub fn try_pretrained_for_inference() -> ::core::result::Result<Self, ::rnn_core::__private::AllocError> {
                let mut net = Self::try_new_for_inference(0)?;
                #load
                ::core::result::Result::Ok(net)
            }
        }

        #extra
    }
}
