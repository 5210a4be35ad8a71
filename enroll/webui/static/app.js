// denwa enrollment, step 2 → 3: follow the enrollment's state by server
// push (EventSource), fetch the app password once when it is verified and
// show it in place; show a failure in place. No polling, no inline script.
'use strict';
(function () {
  const flow = document.getElementById('flow');
  if (!flow) return;
  const $ = (id) => document.getElementById(id);

  function show(id) {
    for (const s of flow.querySelectorAll('section')) s.hidden = s.id !== id;
    const h = $(id).querySelector('h2');
    if (h) h.focus();
  }

  function wireCopy() {
    const btn = $('copy');
    if (!btn) return;
    btn.addEventListener('click', async () => {
      const text = $('password').textContent.replace(/\s+/g, '');
      const status = $('copy-status');
      try {
        await navigator.clipboard.writeText(text);
        status.textContent = flow.dataset.copied;
      } catch (e) {
        const r = document.createRange();
        r.selectNodeContents($('password'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(r);
        status.textContent = flow.dataset.copyFailed;
      }
    });
  }
  wireCopy();

  const base = flow.dataset.base;
  if (!base || !$('step2')) return; // the no-script password page

  let issuing = false;
  async function issue() {
    if (issuing) return;
    issuing = true;
    try {
      const res = await fetch(base + '/password', {
        method: 'POST',
        headers: { 'Accept': 'application/json', 'X-CSRF-Token': flow.dataset.csrf },
        credentials: 'same-origin',
        cache: 'no-store',
      });
      const body = await res.json();
      if (!res.ok) {
        fail({ title: '', message: body.error || '' });
        return;
      }
      $('password').textContent = body.password;
      show('step3');
    } catch (e) {
      fail({ title: '', message: String(e) });
    }
  }

  function fail(d) {
    $('failed-h').textContent = d.title || document.title;
    $('failed-msg').textContent = d.message || '';
    $('failed-retry').textContent = d.retry_text || '';
    $('retry-form').hidden = !d.retry;
    flow.dataset.outcome = d.outcome || d.state || '';
    show('failed');
  }

  const es = new EventSource(base + '/events');
  es.addEventListener('state', (ev) => {
    const d = JSON.parse(ev.data);
    flow.dataset.state = d.state;
    switch (d.state) {
      case 'pending':
      case 'calling':
        return;
      case 'verified':
        es.close();
        issue();
        return;
      default: // failed, completed, expired
        es.close();
        fail(d);
    }
  });
})();
