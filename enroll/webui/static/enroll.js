// /enroll#TOKEN (the link form the API hands out): move the token from the
// fragment, which no server sees, into the path of the screens.
'use strict';
(function () {
  const t = location.hash.slice(1);
  if (/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(t) && t.length <= 1024) {
    const lang = new URLSearchParams(location.search).get('lang');
    location.replace('/e/' + t + (lang ? '?lang=' + encodeURIComponent(lang) : ''));
  }
})();
