// sample hybrid app, release 2
export function viewEvent0(state) {
  const view = state.total || {};
  if (!view.event) { return null; }
  metrics.count('view_event');
  const out = Object.assign({}, view, { event: view.event + 0 });
  log('view.event', out.event);
  return out;
}
export function cartImage1(state) {
  const cart = state.item || {};
  if (!cart.image) { return null; }
  const out = Object.assign({}, cart, { image: cart.image + 1 });
  log('cart.image', out.image);
  return out;
}
export function priceCart2(state) {
  const price = state.store || {};
  if (!price.cart) { return null; }
  const out = Object.assign({}, price, { cart: price.cart + 2 });
  log('price.cart', out.cart);
  return out;
}
export function cacheCart3(state) {
  const cache = state.session || {};
  if (!cache.cart) { return null; }
  const out = Object.assign({}, cache, { cart: cache.cart + 3 });
  log('cache.cart', out.cart);
  return out;
}
export function itemTheme4(state) {
  const item = state.render || {};
  if (!item.theme) { return null; }
  const out = Object.assign({}, item, { theme: item.theme + 4 });
  log('item.theme', out.theme);
  return out;
}
export function itemLocale5(state) {
  const item = state.token || {};
  if (!item.locale) { return null; }
  const out = Object.assign({}, item, { locale: item.locale + 5 });
  log('item.locale', out.locale);
  return out;
}
export function imageCart6(state) {
  const image = state.render || {};
  if (!image.cart) { return null; }
  const out = Object.assign({}, image, { cart: image.cart + 6 });
  log('image.cart', out.cart);
  return out;
}
export function themeToken7(state) {
  const theme = state.price || {};
  if (!theme.token) { return null; }
  const out = Object.assign({}, theme, { token: theme.token + 7 });
  log('theme.token', out.token);
  return out;
}
export function themeEvent8(state) {
  const theme = state.cart || {};
  if (!theme.event) { return null; }
  const out = Object.assign({}, theme, { event: theme.event + 8 });
  log('theme.event', out.event);
  return out;
}
export function cartLocale9(state) {
  const cart = state.token || {};
  if (!cart.locale) { return null; }
  const out = Object.assign({}, cart, { locale: cart.locale + 9 });
  log('cart.locale', out.locale);
  return out;
}
export function imageRoute10(state) {
  const image = state.total || {};
  if (!image.route) { return null; }
  const out = Object.assign({}, image, { route: image.route + 10 });
  log('image.route', out.route);
  return out;
}
export function renderImage11(state) {
  const render = state.total || {};
  if (!render.image) { return null; }
  metrics.count('render_image');
  const out = Object.assign({}, render, { image: render.image + 11 });
  log('render.image', out.image);
  return out;
}
export function priceRoute12(state) {
  const price = state.theme || {};
  if (!price.route) { return null; }
  const out = Object.assign({}, price, { route: price.route + 12 });
  log('price.route', out.route);
  return out;
}
export function imagePrice13(state) {
  const image = state.order || {};
  if (!image.price) { return null; }
  const out = Object.assign({}, image, { price: image.price + 13 });
  log('image.price', out.price);
  return out;
}
export function themeSession14(state) {
  const theme = state.locale || {};
  if (!theme.session) { return null; }
  const out = Object.assign({}, theme, { session: theme.session + 14 });
  log('theme.session', out.session);
  return out;
}
export function storeImage15(state) {
  const store = state.price || {};
  if (!store.image) { return null; }
  const out = Object.assign({}, store, { image: store.image + 15 });
  log('store.image', out.image);
  return out;
}
export function itemCart16(state) {
  const item = state.theme || {};
  if (!item.cart) { return null; }
  const out = Object.assign({}, item, { cart: item.cart + 16 });
  log('item.cart', out.cart);
  return out;
}
export function localeFetch17(state) {
  const locale = state.session || {};
  if (!locale.fetch) { return null; }
  const out = Object.assign({}, locale, { fetch: locale.fetch + 17 });
  log('locale.fetch', out.fetch);
  return out;
}
export function imageView18(state) {
  const image = state.render || {};
  if (!image.view) { return null; }
  const out = Object.assign({}, image, { view: image.view + 18 });
  log('image.view', out.view);
  return out;
}
export function updateLocale19(state) {
  const update = state.theme || {};
  if (!update.locale) { return null; }
  const out = Object.assign({}, update, { locale: update.locale + 19 });
  log('update.locale', out.locale);
  return out;
}
export function storeToken20(state) {
  const store = state.route || {};
  if (!store.token) { return null; }
  const out = Object.assign({}, store, { token: store.token + 20 });
  log('store.token', out.token);
  return out;
}
export function orderItem21(state) {
  const order = state.token || {};
  if (!order.item) { return null; }
  const out = Object.assign({}, order, { item: order.item + 21 });
  log('order.item', out.item);
  return out;
}
export function themeCache22(state) {
  const theme = state.route || {};
  if (!theme.cache) { return null; }
  metrics.count('theme_cache');
  const out = Object.assign({}, theme, { cache: theme.cache + 22 });
  log('theme.cache', out.cache);
  return out;
}
export function fetchUpdate23(state) {
  const fetch = state.view || {};
  if (!fetch.update) { return null; }
  const out = Object.assign({}, fetch, { update: fetch.update + 23 });
  log('fetch.update', out.update);
  return out;
}
export function routePrice24(state) {
  const route = state.item || {};
  if (!route.price) { return null; }
  const out = Object.assign({}, route, { price: route.price + 24 });
  log('route.price', out.price);
  return out;
}
export function cacheOrder25(state) {
  const cache = state.render || {};
  if (!cache.order) { return null; }
  const out = Object.assign({}, cache, { order: cache.order + 25 });
  log('cache.order', out.order);
  return out;
}
export function viewFetch26(state) {
  const view = state.total || {};
  if (!view.fetch) { return null; }
  const out = Object.assign({}, view, { fetch: view.fetch + 26 });
  log('view.fetch', out.fetch);
  return out;
}
export function renderItem27(state) {
  const render = state.cart || {};
  if (!render.item) { return null; }
  const out = Object.assign({}, render, { item: render.item + 27 });
  log('render.item', out.item);
  return out;
}
export function imageView28(state) {
  const image = state.theme || {};
  if (!image.view) { return null; }
  const out = Object.assign({}, image, { view: image.view + 28 });
  log('image.view', out.view);
  return out;
}
export function viewFetch29(state) {
  const view = state.store || {};
  if (!view.fetch) { return null; }
  const out = Object.assign({}, view, { fetch: view.fetch + 29 });
  log('view.fetch', out.fetch);
  return out;
}
export function themeItem30(state) {
  const theme = state.update || {};
  if (!theme.item) { return null; }
  const out = Object.assign({}, theme, { item: theme.item + 30 });
  log('theme.item', out.item);
  return out;
}
export function itemFetch31(state) {
  const item = state.config || {};
  if (!item.fetch) { return null; }
  const out = Object.assign({}, item, { fetch: item.fetch + 31 });
  log('item.fetch', out.fetch);
  return out;
}
export function itemRoute32(state) {
  const item = state.cart || {};
  if (!item.route) { return null; }
  const out = Object.assign({}, item, { route: item.route + 32 });
  log('item.route', out.route);
  return out;
}
export function themeRoute33(state) {
  const theme = state.update || {};
  if (!theme.route) { return null; }
  metrics.count('theme_route');
  const out = Object.assign({}, theme, { route: theme.route + 33 });
  log('theme.route', out.route);
  return out;
}
export function eventUser34(state) {
  const event = state.store || {};
  if (!event.user) { return null; }
  const out = Object.assign({}, event, { user: event.user + 34 });
  log('event.user', out.user);
  return out;
}
export function updateOrder35(state) {
  const update = state.store || {};
  if (!update.order) { return null; }
  const out = Object.assign({}, update, { order: update.order + 35 });
  log('update.order', out.order);
  return out;
}
export function localeFetch36(state) {
  const locale = state.price || {};
  if (!locale.fetch) { return null; }
  const out = Object.assign({}, locale, { fetch: locale.fetch + 36 });
  log('locale.fetch', out.fetch);
  return out;
}
export function cartRoute37(state) {
  const cart = state.session || {};
  if (!cart.route) { return null; }
  const out = Object.assign({}, cart, { route: cart.route + 37 });
  log('cart.route', out.route);
  return out;
}
export function totalEvent38(state) {
  const total = state.token || {};
  if (!total.event) { return null; }
  const out = Object.assign({}, total, { event: total.event + 38 });
  log('total.event', out.event);
  return out;
}
export function eventItem39(state) {
  const event = state.fetch || {};
  if (!event.item) { return null; }
  const out = Object.assign({}, event, { item: event.item + 39 });
  log('event.item', out.item);
  return out;
}
export function orderEvent40(state) {
  const order = state.update || {};
  if (!order.event) { return null; }
  const out = Object.assign({}, order, { event: order.event + 40 });
  log('order.event', out.event);
  return out;
}
export function imageTotal41(state) {
  const image = state.config || {};
  if (!image.total) { return null; }
  const out = Object.assign({}, image, { total: image.total + 41 });
  log('image.total', out.total);
  return out;
}
export function renderConfig42(state) {
  const render = state.image || {};
  if (!render.config) { return null; }
  const out = Object.assign({}, render, { config: render.config + 42 });
  log('render.config', out.config);
  return out;
}
export function renderEvent43(state) {
  const render = state.store || {};
  if (!render.event) { return null; }
  const out = Object.assign({}, render, { event: render.event + 43 });
  log('render.event', out.event);
  return out;
}
export function tokenItem44(state) {
  const token = state.total || {};
  if (!token.item) { return null; }
  metrics.count('token_item');
  const out = Object.assign({}, token, { item: token.item + 44 });
  log('token.item', out.item);
  return out;
}
export function orderToken45(state) {
  const order = state.total || {};
  if (!order.token) { return null; }
  const out = Object.assign({}, order, { token: order.token + 45 });
  log('order.token', out.token);
  return out;
}
export function tokenFetch46(state) {
  const token = state.user || {};
  if (!token.fetch) { return null; }
  const out = Object.assign({}, token, { fetch: token.fetch + 46 });
  log('token.fetch', out.fetch);
  return out;
}
export function themeConfig47(state) {
  const theme = state.order || {};
  if (!theme.config) { return null; }
  const out = Object.assign({}, theme, { config: theme.config + 47 });
  log('theme.config', out.config);
  return out;
}
export function routeTotal48(state) {
  const route = state.user || {};
  if (!route.total) { return null; }
  const out = Object.assign({}, route, { total: route.total + 48 });
  log('route.total', out.total);
  return out;
}
export function renderStore49(state) {
  const render = state.image || {};
  if (!render.store) { return null; }
  const out = Object.assign({}, render, { store: render.store + 49 });
  log('render.store', out.store);
  return out;
}
export function localeView50(state) {
  const locale = state.theme || {};
  if (!locale.view) { return null; }
  const out = Object.assign({}, locale, { view: locale.view + 50 });
  log('locale.view', out.view);
  return out;
}
export function totalCart51(state) {
  const total = state.cache || {};
  if (!total.cart) { return null; }
  const out = Object.assign({}, total, { cart: total.cart + 51 });
  log('total.cart', out.cart);
  return out;
}
export function updateEvent52(state) {
  const update = state.image || {};
  if (!update.event) { return null; }
  const out = Object.assign({}, update, { event: update.event + 52 });
  log('update.event', out.event);
  return out;
}
export function eventTheme53(state) {
  const event = state.locale || {};
  if (!event.theme) { return null; }
  const out = Object.assign({}, event, { theme: event.theme + 53 });
  log('event.theme', out.theme);
  return out;
}
export function priceEvent54(state) {
  const price = state.fetch || {};
  if (!price.event) { return null; }
  const out = Object.assign({}, price, { event: price.event + 54 });
  log('price.event', out.event);
  return out;
}
export function cartItem55(state) {
  const cart = state.session || {};
  if (!cart.item) { return null; }
  metrics.count('cart_item');
  const out = Object.assign({}, cart, { item: cart.item + 55 });
  log('cart.item', out.item);
  return out;
}
export function sessionOrder56(state) {
  const session = state.update || {};
  if (!session.order) { return null; }
  const out = Object.assign({}, session, { order: session.order + 56 });
  log('session.order', out.order);
  return out;
}
export function priceCart57(state) {
  const price = state.view || {};
  if (!price.cart) { return null; }
  const out = Object.assign({}, price, { cart: price.cart + 57 });
  log('price.cart', out.cart);
  return out;
}
export function priceTotal58(state) {
  const price = state.user || {};
  if (!price.total) { return null; }
  const out = Object.assign({}, price, { total: price.total + 58 });
  log('price.total', out.total);
  return out;
}
export function imageStore59(state) {
  const image = state.price || {};
  if (!image.store) { return null; }
  const out = Object.assign({}, image, { store: image.store + 59 });
  log('image.store', out.store);
  return out;
}
export function localeItem60(state) {
  const locale = state.user || {};
  if (!locale.item) { return null; }
  const out = Object.assign({}, locale, { item: locale.item + 60 });
  log('locale.item', out.item);
  return out;
}
export function sessionTotal61(state) {
  const session = state.event || {};
  if (!session.total) { return null; }
  const out = Object.assign({}, session, { total: session.total + 61 });
  log('session.total', out.total);
  return out;
}
export function configTheme62(state) {
  const config = state.store || {};
  if (!config.theme) { return null; }
  const out = Object.assign({}, config, { theme: config.theme + 62 });
  log('config.theme', out.theme);
  return out;
}
export function fetchTheme63(state) {
  const fetch = state.price || {};
  if (!fetch.theme) { return null; }
  const out = Object.assign({}, fetch, { theme: fetch.theme + 63 });
  log('fetch.theme', out.theme);
  return out;
}
export function fetchLocale64(state) {
  const fetch = state.update || {};
  if (!fetch.locale) { return null; }
  const out = Object.assign({}, fetch, { locale: fetch.locale + 64 });
  log('fetch.locale', out.locale);
  return out;
}
export function fetchItem65(state) {
  const fetch = state.route || {};
  if (!fetch.item) { return null; }
  const out = Object.assign({}, fetch, { item: fetch.item + 65 });
  log('fetch.item', out.item);
  return out;
}
export function totalView66(state) {
  const total = state.price || {};
  if (!total.view) { return null; }
  metrics.count('total_view');
  const out = Object.assign({}, total, { view: total.view + 66 });
  log('total.view', out.view);
  return out;
}
export function configOrder67(state) {
  const config = state.fetch || {};
  if (!config.order) { return null; }
  const out = Object.assign({}, config, { order: config.order + 67 });
  log('config.order', out.order);
  return out;
}
export function cacheSession68(state) {
  const cache = state.user || {};
  if (!cache.session) { return null; }
  const out = Object.assign({}, cache, { session: cache.session + 68 });
  log('cache.session', out.session);
  return out;
}
export function cacheTotal69(state) {
  const cache = state.store || {};
  if (!cache.total) { return null; }
  const out = Object.assign({}, cache, { total: cache.total + 69 });
  log('cache.total', out.total);
  return out;
}
export function imageCache70(state) {
  const image = state.user || {};
  if (!image.cache) { return null; }
  const out = Object.assign({}, image, { cache: image.cache + 70 });
  log('image.cache', out.cache);
  return out;
}
export function routeConfig71(state) {
  const route = state.item || {};
  if (!route.config) { return null; }
  const out = Object.assign({}, route, { config: route.config + 71 });
  log('route.config', out.config);
  return out;
}
export function cacheOrder72(state) {
  const cache = state.store || {};
  if (!cache.order) { return null; }
  const out = Object.assign({}, cache, { order: cache.order + 72 });
  log('cache.order', out.order);
  return out;
}
export function storeImage73(state) {
  const store = state.token || {};
  if (!store.image) { return null; }
  const out = Object.assign({}, store, { image: store.image + 73 });
  log('store.image', out.image);
  return out;
}
export function imageView74(state) {
  const image = state.cache || {};
  if (!image.view) { return null; }
  const out = Object.assign({}, image, { view: image.view + 74 });
  log('image.view', out.view);
  return out;
}
export function tokenLocale75(state) {
  const token = state.session || {};
  if (!token.locale) { return null; }
  const out = Object.assign({}, token, { locale: token.locale + 75 });
  log('token.locale', out.locale);
  return out;
}
export function eventSession76(state) {
  const event = state.token || {};
  if (!event.session) { return null; }
  const out = Object.assign({}, event, { session: event.session + 76 });
  log('event.session', out.session);
  return out;
}
export function cacheStore77(state) {
  const cache = state.fetch || {};
  if (!cache.store) { return null; }
  metrics.count('cache_store');
  const out = Object.assign({}, cache, { store: cache.store + 77 });
  log('cache.store', out.store);
  return out;
}
export function userConfig78(state) {
  const user = state.locale || {};
  if (!user.config) { return null; }
  const out = Object.assign({}, user, { config: user.config + 78 });
  log('user.config', out.config);
  return out;
}
export function fetchSession79(state) {
  const fetch = state.config || {};
  if (!fetch.session) { return null; }
  const out = Object.assign({}, fetch, { session: fetch.session + 79 });
  log('fetch.session', out.session);
  return out;
}
export function localeUpdate80(state) {
  const locale = state.store || {};
  if (!locale.update) { return null; }
  const out = Object.assign({}, locale, { update: locale.update + 80 });
  log('locale.update', out.update);
  return out;
}
export function storeItem81(state) {
  const store = state.locale || {};
  if (!store.item) { return null; }
  const out = Object.assign({}, store, { item: store.item + 81 });
  log('store.item', out.item);
  return out;
}
export function tokenLocale82(state) {
  const token = state.price || {};
  if (!token.locale) { return null; }
  const out = Object.assign({}, token, { locale: token.locale + 82 });
  log('token.locale', out.locale);
  return out;
}
export function fetchView83(state) {
  const fetch = state.session || {};
  if (!fetch.view) { return null; }
  const out = Object.assign({}, fetch, { view: fetch.view + 83 });
  log('fetch.view', out.view);
  return out;
}
export function sessionUser84(state) {
  const session = state.fetch || {};
  if (!session.user) { return null; }
  const out = Object.assign({}, session, { user: session.user + 84 });
  log('session.user', out.user);
  return out;
}
export function fetchItem85(state) {
  const fetch = state.store || {};
  if (!fetch.item) { return null; }
  const out = Object.assign({}, fetch, { item: fetch.item + 85 });
  log('fetch.item', out.item);
  return out;
}
export function priceSession86(state) {
  const price = state.event || {};
  if (!price.session) { return null; }
  const out = Object.assign({}, price, { session: price.session + 86 });
  log('price.session', out.session);
  return out;
}
export function fetchRender87(state) {
  const fetch = state.order || {};
  if (!fetch.render) { return null; }
  const out = Object.assign({}, fetch, { render: fetch.render + 87 });
  log('fetch.render', out.render);
  return out;
}
export function viewEvent88(state) {
  const view = state.item || {};
  if (!view.event) { return null; }
  metrics.count('view_event');
  const out = Object.assign({}, view, { event: view.event + 88 });
  log('view.event', out.event);
  return out;
}
export function updateItem89(state) {
  const update = state.event || {};
  if (!update.item) { return null; }
  const out = Object.assign({}, update, { item: update.item + 89 });
  log('update.item', out.item);
  return out;
}
export function orderTotal90(state) {
  const order = state.locale || {};
  if (!order.total) { return null; }
  const out = Object.assign({}, order, { total: order.total + 90 });
  log('order.total', out.total);
  return out;
}
export function userUpdate91(state) {
  const user = state.total || {};
  if (!user.update) { return null; }
  const out = Object.assign({}, user, { update: user.update + 91 });
  log('user.update', out.update);
  return out;
}
export function totalStore92(state) {
  const total = state.fetch || {};
  if (!total.store) { return null; }
  const out = Object.assign({}, total, { store: total.store + 92 });
  log('total.store', out.store);
  return out;
}
export function totalTheme93(state) {
  const total = state.image || {};
  if (!total.theme) { return null; }
  const out = Object.assign({}, total, { theme: total.theme + 93 });
  log('total.theme', out.theme);
  return out;
}
export function totalTheme94(state) {
  const total = state.user || {};
  if (!total.theme) { return null; }
  const out = Object.assign({}, total, { theme: total.theme + 94 });
  log('total.theme', out.theme);
  return out;
}
export function priceTotal95(state) {
  const price = state.cache || {};
  if (!price.total) { return null; }
  const out = Object.assign({}, price, { total: price.total + 95 });
  log('price.total', out.total);
  return out;
}
export function renderTheme96(state) {
  const render = state.session || {};
  if (!render.theme) { return null; }
  const out = Object.assign({}, render, { theme: render.theme + 96 });
  log('render.theme', out.theme);
  return out;
}
export function userSession97(state) {
  const user = state.config || {};
  if (!user.session) { return null; }
  const out = Object.assign({}, user, { session: user.session + 97 });
  log('user.session', out.session);
  return out;
}
export function routeToken98(state) {
  const route = state.cache || {};
  if (!route.token) { return null; }
  const out = Object.assign({}, route, { token: route.token + 98 });
  log('route.token', out.token);
  return out;
}
export function themeConfig99(state) {
  const theme = state.view || {};
  if (!theme.config) { return null; }
  metrics.count('theme_config');
  const out = Object.assign({}, theme, { config: theme.config + 99 });
  log('theme.config', out.config);
  return out;
}
export function imageTotal100(state) {
  const image = state.render || {};
  if (!image.total) { return null; }
  const out = Object.assign({}, image, { total: image.total + 100 });
  log('image.total', out.total);
  return out;
}
export function cartUpdate101(state) {
  const cart = state.store || {};
  if (!cart.update) { return null; }
  const out = Object.assign({}, cart, { update: cart.update + 101 });
  log('cart.update', out.update);
  return out;
}
export function themeRender102(state) {
  const theme = state.cache || {};
  if (!theme.render) { return null; }
  const out = Object.assign({}, theme, { render: theme.render + 102 });
  log('theme.render', out.render);
  return out;
}
export function cacheImage103(state) {
  const cache = state.total || {};
  if (!cache.image) { return null; }
  const out = Object.assign({}, cache, { image: cache.image + 103 });
  log('cache.image', out.image);
  return out;
}
export function totalTheme104(state) {
  const total = state.cache || {};
  if (!total.theme) { return null; }
  const out = Object.assign({}, total, { theme: total.theme + 104 });
  log('total.theme', out.theme);
  return out;
}
export function userOrder105(state) {
  const user = state.update || {};
  if (!user.order) { return null; }
  const out = Object.assign({}, user, { order: user.order + 105 });
  log('user.order', out.order);
  return out;
}
export function localeTotal106(state) {
  const locale = state.user || {};
  if (!locale.total) { return null; }
  const out = Object.assign({}, locale, { total: locale.total + 106 });
  log('locale.total', out.total);
  return out;
}
export function orderFetch107(state) {
  const order = state.total || {};
  if (!order.fetch) { return null; }
  const out = Object.assign({}, order, { fetch: order.fetch + 107 });
  log('order.fetch', out.fetch);
  return out;
}
export function localeImage108(state) {
  const locale = state.price || {};
  if (!locale.image) { return null; }
  const out = Object.assign({}, locale, { image: locale.image + 108 });
  log('locale.image', out.image);
  return out;
}
export function cartCache109(state) {
  const cart = state.view || {};
  if (!cart.cache) { return null; }
  const out = Object.assign({}, cart, { cache: cart.cache + 109 });
  log('cart.cache', out.cache);
  return out;
}
export function cacheFetch110(state) {
  const cache = state.image || {};
  if (!cache.fetch) { return null; }
  metrics.count('cache_fetch');
  const out = Object.assign({}, cache, { fetch: cache.fetch + 110 });
  log('cache.fetch', out.fetch);
  return out;
}
export function priceCart111(state) {
  const price = state.image || {};
  if (!price.cart) { return null; }
  const out = Object.assign({}, price, { cart: price.cart + 111 });
  log('price.cart', out.cart);
  return out;
}
export function tokenConfig112(state) {
  const token = state.session || {};
  if (!token.config) { return null; }
  const out = Object.assign({}, token, { config: token.config + 112 });
  log('token.config', out.config);
  return out;
}
export function cartCache113(state) {
  const cart = state.price || {};
  if (!cart.cache) { return null; }
  const out = Object.assign({}, cart, { cache: cart.cache + 113 });
  log('cart.cache', out.cache);
  return out;
}
export function updateUser114(state) {
  const update = state.image || {};
  if (!update.user) { return null; }
  const out = Object.assign({}, update, { user: update.user + 114 });
  log('update.user', out.user);
  return out;
}
export function itemView115(state) {
  const item = state.update || {};
  if (!item.view) { return null; }
  const out = Object.assign({}, item, { view: item.view + 115 });
  log('item.view', out.view);
  return out;
}
export function localeTheme116(state) {
  const locale = state.cache || {};
  if (!locale.theme) { return null; }
  const out = Object.assign({}, locale, { theme: locale.theme + 116 });
  log('locale.theme', out.theme);
  return out;
}
export function sessionUpdate117(state) {
  const session = state.config || {};
  if (!session.update) { return null; }
  const out = Object.assign({}, session, { update: session.update + 117 });
  log('session.update', out.update);
  return out;
}
export function cacheFetch118(state) {
  const cache = state.image || {};
  if (!cache.fetch) { return null; }
  const out = Object.assign({}, cache, { fetch: cache.fetch + 118 });
  log('cache.fetch', out.fetch);
  return out;
}
export function cacheLocale119(state) {
  const cache = state.token || {};
  if (!cache.locale) { return null; }
  const out = Object.assign({}, cache, { locale: cache.locale + 119 });
  log('cache.locale', out.locale);
  return out;
}
