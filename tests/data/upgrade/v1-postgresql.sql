--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: apscheduler_jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.apscheduler_jobs (
    id character varying(191) NOT NULL,
    next_run_time double precision,
    job_state bytea NOT NULL
);


--
-- Name: article_topics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.article_topics (
    article_id character varying(2048) NOT NULL,
    topic_id integer NOT NULL,
    published timestamp without time zone NOT NULL
);


--
-- Name: articles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.articles (
    id character varying(2048) NOT NULL,
    title text NOT NULL,
    url text,
    source text,
    published timestamp without time zone NOT NULL,
    topics text NOT NULL,
    lede text NOT NULL,
    body text NOT NULL,
    author text,
    image text,
    content_hash character varying(40) NOT NULL,
    created timestamp without time zone NOT NULL,
    updated timestamp without time zone NOT NULL
);


--
-- Name: deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.deliveries (
    id integer NOT NULL,
    issue_id integer NOT NULL,
    subscriber_id integer NOT NULL,
    status character varying(16) NOT NULL,
    permanent boolean NOT NULL,
    attempts integer NOT NULL,
    last_error text,
    message_id text,
    variant text,
    updated timestamp without time zone NOT NULL
);


--
-- Name: deliveries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.deliveries_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: deliveries_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.deliveries_id_seq OWNED BY public.deliveries.id;


--
-- Name: issue_articles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.issue_articles (
    issue_id integer NOT NULL,
    "position" integer NOT NULL,
    article_id character varying(2048) NOT NULL
);


--
-- Name: issues; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.issues (
    id integer NOT NULL,
    digest character varying(200) NOT NULL,
    key character varying(32) NOT NULL,
    issue_date date NOT NULL,
    subject text NOT NULL,
    message_id text,
    created timestamp without time zone NOT NULL,
    error text
);


--
-- Name: issues_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.issues_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: issues_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.issues_id_seq OWNED BY public.issues.id;


--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    key character varying(64) NOT NULL,
    value text NOT NULL
);


--
-- Name: source_files; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.source_files (
    key character varying(4096) NOT NULL,
    mtime_ns bigint,
    size bigint,
    etag text,
    last_modified text
);


--
-- Name: subscriber_digests; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscriber_digests (
    subscriber_id integer NOT NULL,
    digest character varying(200) NOT NULL
);


--
-- Name: subscribers; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscribers (
    id integer NOT NULL,
    email character varying(320) NOT NULL,
    name text,
    status character varying(16) NOT NULL,
    topics text NOT NULL,
    created timestamp without time zone NOT NULL,
    updated timestamp without time zone NOT NULL
);


--
-- Name: subscribers_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.subscribers_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: subscribers_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.subscribers_id_seq OWNED BY public.subscribers.id;


--
-- Name: topics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.topics (
    id integer NOT NULL,
    slug character varying(200) NOT NULL,
    name text NOT NULL
);


--
-- Name: topics_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.topics_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: topics_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.topics_id_seq OWNED BY public.topics.id;


--
-- Name: deliveries id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries ALTER COLUMN id SET DEFAULT nextval('public.deliveries_id_seq'::regclass);


--
-- Name: issues id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issues ALTER COLUMN id SET DEFAULT nextval('public.issues_id_seq'::regclass);


--
-- Name: subscribers id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscribers ALTER COLUMN id SET DEFAULT nextval('public.subscribers_id_seq'::regclass);


--
-- Name: topics id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.topics ALTER COLUMN id SET DEFAULT nextval('public.topics_id_seq'::regclass);


--
-- Data for Name: apscheduler_jobs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.apscheduler_jobs VALUES ('digest:daily', 1796108400, '\x800595b3040000000000007d94288c0776657273696f6e944b018c026964948c0c6469676573743a6461696c79948c0466756e63948c226e6577736c65747465722e706970656c696e652e72756e3a72756e5f646967657374948c0774726967676572948c1961707363686564756c65722e74726967676572732e63726f6e948c0b43726f6e547269676765729493942981947d942868014b028c0874696d657a6f6e65948c086275696c74696e73948c07676574617474729493948c087a6f6e65696e666f948c085a6f6e65496e666f9493948c095f756e7069636b6c6594869452948c03555443944b01869452948c0a73746172745f64617465944e8c08656e645f64617465944e8c066669656c6473945d94288c2061707363686564756c65722e74726967676572732e63726f6e2e6669656c6473948c09426173654669656c649493942981947d94288c046e616d65948c0479656172948c0a69735f64656661756c7494888c0b65787072657373696f6e73945d948c2561707363686564756c65722e74726967676572732e63726f6e2e65787072657373696f6e73948c0d416c6c45787072657373696f6e9493942981947d948c0473746570944e7362617562681d8c0a4d6f6e74684669656c649493942981947d942868228c056d6f6e74689468248968255d9468292981947d94682c4e7362617562681d8c0f4461794f664d6f6e74684669656c649493942981947d942868228c036461799468248968255d9468292981947d94682c4e7362617562681d8c095765656b4669656c649493942981947d942868228c047765656b9468248868255d9468292981947d94682c4e7362617562681d8c0e4461794f665765656b4669656c649493942981947d942868228c0b6461795f6f665f7765656b9468248968255d942868278c165765656b64617952616e676545787072657373696f6e9493942981947d9428682c4e8c056669727374944b008c046c617374944b007562684c2981947d9428682c4e684f4b0168504b017562684c2981947d9428682c4e684f4b0268504b027562684c2981947d9428682c4e684f4b0368504b037562684c2981947d9428682c4e684f4b0468504b047562657562681f2981947d942868228c04686f75729468248968255d9468278c0f52616e676545787072657373696f6e9493942981947d9428682c4e684f4b0768504b077562617562681f2981947d942868228c066d696e7574659468248968255d94685e2981947d9428682c4e684f4b0068504b007562617562681f2981947d942868228c067365636f6e649468248868255d94685e2981947d9428682c4e684f4b0068504b007562617562658c066a6974746572944e75628c086578656375746f72948c0764656661756c74948c0461726773948c212f746d702f76316669782f70726f6a70672f6e6577736c65747465722e746f6d6c948c056461696c799486948c066b7761726773947d9468228c0c646967657374206461696c79948c126d6973666972655f67726163655f74696d65944d100e8c08636f616c6573636594888c0d6d61785f696e7374616e636573944b018c0d6e6578745f72756e5f74696d65948c086461746574696d65948c086461746574696d65949394430a07ea0c0107000000000094681886945294752e');


--
-- Data for Name: article_topics; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.article_topics VALUES ('file:iran-gives-in-to-spy-mania', 2, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:iran-gives-in-to-spy-mania', 3, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:iran-gives-in-to-spy-mania', 4, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:long-history-of-cooperation-between-iran-and-russia', 1, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:long-history-of-cooperation-between-iran-and-russia', 3, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:long-history-of-cooperation-between-iran-and-russia', 5, '2024-10-11 12:00:00');
INSERT INTO public.article_topics VALUES ('file:long-history-of-cooperation-between-iran-and-russia', 6, '2024-10-11 12:00:00');


--
-- Data for Name: articles; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.articles VALUES ('file:iran-gives-in-to-spy-mania', 'Iran Gives in to Spy Mania', NULL, 'New York Sun', '2024-10-11 12:00:00', '["Gaza War 2023", "Iran", "Israeli Security"]', '<p>This week, there have been numerous unconfirmed reports about the fate of Esmail Qaani, who is the head of the Quds Force, the expeditionary arm of Iran’s Revolutionary Guards. Benny Avni writes:</p>', '<blockquote>
<p>On Thursday, Sky News Arabic reported that Mr. Qaani was rushed to a hospital after suffering a heart attack. He became [the Quds Force] commander in 2020, after an American drone strike killed his predecessor, Qassem Suleimani. The unit oversees the Islamic Republic’s various Mideast proxies, as well as the exporting of the Iranian revolution to the region and beyond.</p>
<p>The Sky News report attempts to put to rest earlier claims that Mr. Qaani was killed at Beirut. It follows several reports asserting he has been arrested and interrogated at Tehran over suspicion that he, or a top lieutenant, leaked information to Israel. Five days ago, the Arabic-language al-Arabiya network reported that Mr. Qaani “is under surveillance and isolation, following the Israeli assassinations of prominent Iranian leaders.”</p>
<p>Iranians are desperately scrambling to plug possible leaks that gave Israel precise intelligence to conduct pinpoint strikes against Hizballah commanders. . . . “I find it hard to believe that Qaani was compromised,” an Iran watcher at Tel Aviv University’s Institute for National Security Studies, Beni Sabti, tells the Sun. Perhaps one or more of [Qaani’s] top aides have been recruited by Israel, he says, adding that “psychological warfare” could well be stoking the rumor mill.</p>
</blockquote>
<p>If so, prominent Iranians seem to be exacerbating the internal turmoil by alleging that the country’s security apparatus has been infiltrated.</p>', 'Benny Avni', NULL, '9165dc46a1cff97cdd0aff4018aeb3cc60674002', '2026-11-30 12:39:23.436518', '2026-11-30 12:39:23.436518');
INSERT INTO public.articles VALUES ('file:long-history-of-cooperation-between-iran-and-russia', 'The Long History of Cooperation between Iran and Russia', NULL, 'Middle East Quarterly', '2024-10-11 12:00:00', '["Afghanistan", "Iran", "PLO", "Russia"]', '<p>In the Syrian civil war, Iranian and Russian forces have fought side by side to keep Bashar al-Assad in power. But cooperation between Moscow and Tehran goes back much further, explains Oved Lobel:</p>', '<blockquote>
<p>[T]he Islamist regime has maintained a deep warmth for Russia, especially after 1988. The Soviet leader Mikhail Gorbachev was the only foreign leader ever to receive a personal letter from Ayatollah Ruhollah Khomeini (in 1989) urging him to consider Islam an alternative given the imminent collapse of Communism. . . . While the current relationship is a strategic alliance, the Soviet-Khomeini relationship was more akin to the Russo-Turkish alliance of today, in which their highest mutual priority—the destruction of U.S. influence—allowed them to compartmentalize irreconcilable ideological and geopolitical differences.</p>
<p>The most extreme example of this is Afghanistan, where Khomeini and Moscow came to an arrangement whereby Tehran could replicate its Islamic theocracy in Hazarajat, the area predominantly populated by the Hazara Shiite minority, while the Soviets shored up their Communist state in the rest of Afghanistan. . . . Following the sudden rise of the Taliban, Russia and Iran allied against them and backed the Northern Alliance. . . . But, following the U.S.-led invasion in 2001, the two countries collaborated in supporting the Taliban.</p>
</blockquote>
<p>Since Vladimir Putin took the helm at the Kremlin, the relationship between the two has only grown stronger:</p>
<blockquote>
<p>The clearest demonstration of the Russo-Iranian alliance was their joint intervention in Syria to preserve Bashar al-Assad’s regime, but their anti-U.S. alliance spans the globe. For instance, when the Palestine Liberation Organization (PLO) sought Iranian support during the second intifada, it went to Moscow to connect with the Islamic Revolutionary Guard Corp, resulting in the 2002 Karine A affair, when the Palestinian Authority tried to smuggle 50 tons of Iranian-supplied weapons into Gaza in flagrant violation of the Oslo Accords.</p>
</blockquote>', 'Oved Lobel', NULL, '2bcaf128659273066947fc4adcf3b07bde01caeb', '2026-11-30 12:39:23.436518', '2026-11-30 12:39:23.436518');


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.deliveries VALUES (1, 1, 1, 'sent', false, 1, NULL, '<e55b2365f9074798850966ca63846d70@example.org>', NULL, '2026-11-30 12:39:30.422783');
INSERT INTO public.deliveries VALUES (2, 1, 2, 'sent', false, 1, NULL, '<e534a8bb147b4f16bbcc3bce2af8a2db@example.org>', NULL, '2026-11-30 12:39:30.427805');
INSERT INTO public.deliveries VALUES (3, 1, 3, 'failed', true, 1, 'bounce@example.net: 550 5.1.1 no such user', NULL, NULL, '2026-11-30 12:39:30.430229');
INSERT INTO public.deliveries VALUES (4, 1, 4, 'failed', false, 1, 'later@example.net: 451 4.3.0 try again', NULL, NULL, '2026-11-30 12:39:30.433675');
INSERT INTO public.deliveries VALUES (6, 1, 6, 'sent', false, 1, NULL, '<3f06dd789ba6429585d860adf356d4d6@example.org>', NULL, '2026-11-30 12:39:30.447991');


--
-- Data for Name: issue_articles; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.issue_articles VALUES (1, 0, 'file:iran-gives-in-to-spy-mania');
INSERT INTO public.issue_articles VALUES (1, 1, 'file:long-history-of-cooperation-between-iran-and-russia');
INSERT INTO public.issue_articles VALUES (2, 0, 'file:iran-gives-in-to-spy-mania');
INSERT INTO public.issue_articles VALUES (2, 1, 'file:long-history-of-cooperation-between-iran-and-russia');


--
-- Data for Name: issues; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.issues VALUES (1, 'daily', '2024-10-11', '2024-10-11', 'Editors'' Picks: Friday, October 11, 2024', '<179604237036.10833.1105699861678579668@example.org>', '2026-11-30 12:39:30.368845', NULL);
INSERT INTO public.issues VALUES (2, 'weekly', '2024-10-13', '2024-10-13', 'Editors'' Picks: Sunday, October 13, 2024', '<179604237188.10839.13878945403981133005@example.org>', '2026-11-30 12:39:31.887889', NULL);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('schema_version', '1');
INSERT INTO public.meta VALUES ('secret_key', '751eeb907fc8b85e67b8b7896bf4d8a930c7d8188c714f50a4e2615beae4ec82');


--
-- Data for Name: source_files; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.source_files VALUES ('/tmp/v1fix/projpg/articles/iran-gives-in-to-spy-mania.md', 1796042186815994397, 1815, NULL, NULL);
INSERT INTO public.source_files VALUES ('/tmp/v1fix/projpg/articles/long-history-of-cooperation-between-iran-and-russia.md', 1796042186816745880, 2298, NULL, NULL);


--
-- Data for Name: subscriber_digests; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.subscriber_digests VALUES (1, 'daily');
INSERT INTO public.subscriber_digests VALUES (2, 'daily');
INSERT INTO public.subscriber_digests VALUES (3, 'daily');
INSERT INTO public.subscriber_digests VALUES (4, 'daily');
INSERT INTO public.subscriber_digests VALUES (6, 'daily');
INSERT INTO public.subscriber_digests VALUES (7, 'weekly');
INSERT INTO public.subscriber_digests VALUES (8, 'daily');


--
-- Data for Name: subscribers; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.subscribers VALUES (1, 'ada@example.org', 'Ada', 'active', '[]', '2026-11-30 12:39:24.298745', '2026-11-30 12:39:24.298745');
INSERT INTO public.subscribers VALUES (2, 'bob@example.org', 'Bob', 'active', '[]', '2026-11-30 12:39:25.077095', '2026-11-30 12:39:25.077095');
INSERT INTO public.subscribers VALUES (3, 'bounce@example.net', 'Bounce', 'active', '[]', '2026-11-30 12:39:25.765773', '2026-11-30 12:39:25.765773');
INSERT INTO public.subscribers VALUES (4, 'later@example.net', 'Later', 'active', '[]', '2026-11-30 12:39:26.443242', '2026-11-30 12:39:26.443242');
INSERT INTO public.subscribers VALUES (6, 'topics@example.org', NULL, 'active', '["Russia"]', '2026-11-30 12:39:27.666569', '2026-11-30 12:39:27.666569');
INSERT INTO public.subscribers VALUES (7, 'weekly@example.org', NULL, 'active', '[]', '2026-11-30 12:39:28.302715', '2026-11-30 12:39:28.302715');
INSERT INTO public.subscribers VALUES (8, 'quit@example.org', NULL, 'unsubscribed', '[]', '2026-11-30 12:39:28.924966', '2026-11-30 12:39:29.562045');


--
-- Data for Name: topics; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.topics VALUES (1, 'afghanistan', 'Afghanistan');
INSERT INTO public.topics VALUES (2, 'gaza-war-2023', 'Gaza War 2023');
INSERT INTO public.topics VALUES (3, 'iran', 'Iran');
INSERT INTO public.topics VALUES (4, 'israeli-security', 'Israeli Security');
INSERT INTO public.topics VALUES (5, 'plo', 'PLO');
INSERT INTO public.topics VALUES (6, 'russia', 'Russia');


--
-- Name: deliveries_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.deliveries_id_seq', 6, true);


--
-- Name: issues_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.issues_id_seq', 2, true);


--
-- Name: subscribers_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.subscribers_id_seq', 8, true);


--
-- Name: topics_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.topics_id_seq', 6, true);


--
-- Name: apscheduler_jobs apscheduler_jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.apscheduler_jobs
    ADD CONSTRAINT apscheduler_jobs_pkey PRIMARY KEY (id);


--
-- Name: article_topics article_topics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.article_topics
    ADD CONSTRAINT article_topics_pkey PRIMARY KEY (article_id, topic_id);


--
-- Name: articles articles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.articles
    ADD CONSTRAINT articles_pkey PRIMARY KEY (id);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);


--
-- Name: issue_articles issue_articles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issue_articles
    ADD CONSTRAINT issue_articles_pkey PRIMARY KEY (issue_id, "position");


--
-- Name: issues issues_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issues
    ADD CONSTRAINT issues_pkey PRIMARY KEY (id);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: source_files source_files_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.source_files
    ADD CONSTRAINT source_files_pkey PRIMARY KEY (key);


--
-- Name: subscriber_digests subscriber_digests_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriber_digests
    ADD CONSTRAINT subscriber_digests_pkey PRIMARY KEY (subscriber_id, digest);


--
-- Name: subscribers subscribers_email_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscribers
    ADD CONSTRAINT subscribers_email_key UNIQUE (email);


--
-- Name: subscribers subscribers_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscribers
    ADD CONSTRAINT subscribers_pkey PRIMARY KEY (id);


--
-- Name: topics topics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.topics
    ADD CONSTRAINT topics_pkey PRIMARY KEY (id);


--
-- Name: topics topics_slug_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.topics
    ADD CONSTRAINT topics_slug_key UNIQUE (slug);


--
-- Name: deliveries uq_deliveries_issue_subscriber; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT uq_deliveries_issue_subscriber UNIQUE (issue_id, subscriber_id);


--
-- Name: issues uq_issues_digest_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issues
    ADD CONSTRAINT uq_issues_digest_key UNIQUE (digest, key);


--
-- Name: ix_apscheduler_jobs_next_run_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_apscheduler_jobs_next_run_time ON public.apscheduler_jobs USING btree (next_run_time);


--
-- Name: ix_article_topics_topic_published; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_article_topics_topic_published ON public.article_topics USING btree (topic_id, published);


--
-- Name: ix_articles_published; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_articles_published ON public.articles USING btree (published);


--
-- Name: ix_articles_source; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_articles_source ON public.articles USING btree (source);


--
-- Name: ix_deliveries_issue_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_deliveries_issue_status ON public.deliveries USING btree (issue_id, status);


--
-- Name: ix_issue_articles_article; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_issue_articles_article ON public.issue_articles USING btree (article_id);


--
-- Name: ix_subscriber_digests_digest; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ix_subscriber_digests_digest ON public.subscriber_digests USING btree (digest);


--
-- Name: article_topics article_topics_article_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.article_topics
    ADD CONSTRAINT article_topics_article_id_fkey FOREIGN KEY (article_id) REFERENCES public.articles(id) ON DELETE CASCADE;


--
-- Name: article_topics article_topics_topic_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.article_topics
    ADD CONSTRAINT article_topics_topic_id_fkey FOREIGN KEY (topic_id) REFERENCES public.topics(id);


--
-- Name: deliveries deliveries_issue_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_issue_id_fkey FOREIGN KEY (issue_id) REFERENCES public.issues(id) ON DELETE CASCADE;


--
-- Name: deliveries deliveries_subscriber_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES public.subscribers(id) ON DELETE CASCADE;


--
-- Name: issue_articles issue_articles_article_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issue_articles
    ADD CONSTRAINT issue_articles_article_id_fkey FOREIGN KEY (article_id) REFERENCES public.articles(id);


--
-- Name: issue_articles issue_articles_issue_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.issue_articles
    ADD CONSTRAINT issue_articles_issue_id_fkey FOREIGN KEY (issue_id) REFERENCES public.issues(id) ON DELETE CASCADE;


--
-- Name: subscriber_digests subscriber_digests_subscriber_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriber_digests
    ADD CONSTRAINT subscriber_digests_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES public.subscribers(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--


