// Peer hubs (级联枢纽, docs/federation.md), for the operator: each hub this hub harvests from and
// relays to (a source) or accepts relayed queries from (a consumer), its pinned keys by their
// thumbprints, the catalogue version in force, and every harvest, accepted or refused with the
// pointer of each problem. The operator harvests a source's catalogue again, and suspends or
// resumes a peer, from here; registering one takes key files and stays with `tongban peers add`.
// Times are China time; on a phone each table's row is a card.

import { api } from "./api.js";
import { cardTable, h, replace } from "./dom.js";
import { label, t, when } from "./i18n.js";
import { act, badge, facts, loading, problemBox, section } from "./ui.js";

export async function renderPeers(ctx) {
  const { main } = ctx;
  replace(main, h("h1", {}, t("peers.title")), loading());
  let peers;
  try {
    peers = (await api("/federation/peers")).peers;
  } catch (error) {
    replace(main, h("h1", {}, t("peers.title")), problemBox(error));
    return;
  }
  const histories = await Promise.all(
    peers.map((p) => api(`/federation/peers/${encodeURIComponent(p.id)}/harvests`).then((r) => r.harvests)),
  );
  replace(
    main,
    h("h1", {}, t("peers.title")),
    h("p", { class: "hint" }, t("peers.hint")),
    peers.length
      ? cardTable(
          t("peers.title"),
          [t("peers.peer"), t("peers.roles"), t("peers.status"), t("peers.version"), t("peers.registered")],
          peers.map((p) => [
            [h("strong", {}, p.name), " ", h("code", {}, p.id), h("div", { class: "meta" }, p.url)],
            p.roles.map((r) => label("peer_role", r)).join("、"),
            badge("peer", p.status),
            p.harvest_version ? `v${p.harvest_version}` : "—",
            when(p.registered_at),
          ]),
        )
      : h("p", {}, t("peers.none")),
    ...peers.map((p, n) => peerSection(ctx, p, histories[n])),
  );
}

function peerSection(ctx, peer, harvests) {
  const actions = h("div", { class: "actions" });
  if (peer.roles.includes("source") && peer.status === "active") {
    const harvest = h("button", { type: "button" }, t("peers.harvest"));
    harvest.addEventListener("click", () =>
      act(harvest, actions, async () => {
        await api(`/federation/peers/${encodeURIComponent(peer.id)}/harvest`, { method: "POST" });
        await renderPeers(ctx);
      }),
    );
    actions.append(harvest);
  }
  const next = peer.status === "active" ? "suspended" : "active";
  const toggle = h("button", { type: "button", class: "secondary" }, t(`peers.make_${next}`));
  toggle.addEventListener("click", () =>
    act(toggle, actions, async () => {
      await api(`/federation/peers/${encodeURIComponent(peer.id)}/status`, {
        method: "POST",
        body: { status: next },
      });
      await renderPeers(ctx);
    }),
  );
  actions.append(toggle);
  return section(
    `${peer.name}（${peer.id}）`,
    facts([
      [t("peers.url"), h("code", {}, peer.url)],
      peer.client_id ? [t("peers.client_id"), h("code", {}, peer.client_id)] : null,
      peer.consumer_system ? [t("peers.consumer_system"), h("code", {}, peer.consumer_system)] : null,
      [t("peers.keys"), h("ul", { class: "plain" }, peer.keys.evidence.map((k) => h("li", {}, h("code", {}, k.kid), ` ${t("peers.thumbprint")} `, h("code", { class: "wrap" }, k.thumbprint))))],
      [t("peers.checkpoint_key"), h("code", { class: "wrap" }, peer.keys.checkpoint)],
      [t("peers.resources"), peer.resources.length ? peer.resources.join("、") : "—"],
    ]),
    actions,
    harvests.length
      ? cardTable(
          t("peers.harvests"),
          [t("peers.number"), t("peers.at"), t("peers.outcome"), t("peers.what")],
          harvests.slice(0, 10).map((hv) => [
            `#${hv.number}`,
            when(hv.at),
            badge("harvest", hv.outcome),
            hv.outcome === "accepted"
              ? t("peers.accepted", { version: hv.version, n: hv.resources.length })
              : [hv.detail || "", h("ul", { class: "plain" }, hv.problems.map((pr) => h("li", {}, h("code", { class: "wrap" }, pr.pointer), ` ${pr.detail}`)))],
          ]),
        )
      : peer.roles.includes("source")
        ? h("p", { class: "hint" }, t("peers.never_harvested"))
        : null,
  );
}
